"""Contract specifications per underlying: strike step, expiry rules by era and lot size by expiry.

NSE revises lot sizes and expiry weekdays, so both belong to a contract's expiry date. The table
ships as `instruments.json` (docs/contracts.md shows it with its sources) and can be replaced by
the file named in `INSTRUMENTS_FILE`. A contract's expiry is its nominal date (the era's weekday:
every week for weekly eras, the last one of the month for monthlies, which may fall on another
weekday than the weeklies) moved to the previous regular trading day when that is a holiday.

Lot sizes depend on when a contract was listed as well as when it expires: a revision applies to
contracts listed after it, and contracts already trading keep their lot to expiry. NSE's revision
circulars state this as the first monthly and the first weekly expiry that trade at the new lot,
and that is how each row of the table is keyed (`from_expiry` for monthlies, `weekly_from` for
weeklies): the listing is derived from the contract's cycle, so `lot_size_for(expiry)` needs only
the expiry (whether it is the month's monthly expiry follows from the calendar).
"""

from __future__ import annotations

import calendar as _calendar
import json
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from pydantic import BaseModel
from pydantic_settings import BaseSettings, SettingsConfigDict

from optrade.calendar import OutsideCalendar, is_estimated, previous_trading_day
from optrade.settings import cached_settings

DEFAULT_FILE = Path(__file__).with_name("instruments.json")


class LotSizeEntry(BaseModel):
    """A lot size from its first monthly expiry (`from_expiry`) and its first weekly expiry
    (`weekly_from`, the same date when not given): the contracts listed after the revision."""

    from_expiry: date
    weekly_from: date | None = None
    lot_size: int
    source: str = ""

    def first_expiry(self, *, monthly: bool) -> date:
        return self.from_expiry if monthly or self.weekly_from is None else self.weekly_from


class ExpiryRule(BaseModel):
    """From contracts expiring on `from_expiry`: the weeklies' weekday, whether weeklies list, and
    the monthlies' weekday when it differs (BANKNIFTY Sep-2023 to Feb-2024: Wednesday weeklies,
    last-Thursday monthlies)."""

    from_expiry: date
    weekday: int  # Monday = 0
    weekly: bool
    monthly_weekday: int | None = None  # None: the same as `weekday`
    source: str = ""

    @property
    def monthly_day(self) -> int:
        return self.weekday if self.monthly_weekday is None else self.monthly_weekday


@dataclass(frozen=True)
class ContractExpiry:
    """A contract's expiry, the nominal date it was moved back from, and whether that rests on
    estimated holiday data."""

    expiry: date
    nominal: date
    monthly: bool

    @property
    def estimated(self) -> bool:
        days = (self.nominal - self.expiry).days
        return any(is_estimated(self.expiry + timedelta(days=i)) for i in range(days + 1))


class InstrumentSpec(BaseModel):
    name: str
    strike_step: int
    reference_spot: float  # where the simulated market starts
    expiry_rules: list[ExpiryRule]  # ascending from_expiry
    lot_sizes: list[LotSizeEntry]

    def lot_size_for(self, expiry: date, *, monthly: bool | None = None) -> int:
        """Lot size of the contract expiring on `expiry`: the latest revision whose first expiry
        of the contract's cycle (monthly or weekly; from the calendar unless `monthly` says) is on
        or before it. Before the table's first row, the first row's lot."""
        if monthly is None:
            monthly = self.is_monthly_expiry(expiry)
        applicable = [e for e in self.lot_sizes if e.first_expiry(monthly=monthly) <= expiry]
        return applicable[-1].lot_size if applicable else self.lot_sizes[0].lot_size

    def is_monthly_expiry(self, expiry: date) -> bool:
        """Whether `expiry` is its month's monthly expiry (a quarterly is a monthly too)."""
        nominal = self.monthly_nominal(expiry.year, expiry.month)
        if expiry == nominal:
            return True
        try:
            return expiry == previous_trading_day(nominal)
        except OutsideCalendar:
            return False

    def rule_for(self, nominal: date) -> ExpiryRule:
        """The expiry rule of contracts whose nominal expiry is `nominal`."""
        applicable = [r for r in self.expiry_rules if r.from_expiry <= nominal]
        return applicable[-1] if applicable else self.expiry_rules[0]

    def monthly_nominal(self, year: int, month: int) -> date:
        """The last expiry weekday of the month, under the rule in force on that date."""
        last = date(year, month, _calendar.monthrange(year, month)[1])
        for rule in reversed(self.expiry_rules):
            candidate = last - timedelta(days=(last.weekday() - rule.monthly_day) % 7)
            if candidate >= rule.from_expiry:
                return candidate
        return candidate

    def is_weekly_nominal(self, day: date) -> bool:
        """A weekly expires on the era's weekday, except in the week the monthly expires."""
        rule = self.rule_for(day)
        if not rule.weekly or day.weekday() != rule.weekday:
            return False
        monthly = self.monthly_nominal(day.year, day.month)
        return not 0 < (monthly - day).days < 7

    def expiries_between(self, start: date, end: date) -> list[ContractExpiry]:
        """Every contract expiry (weekly and monthly) with a nominal date in [start, end]."""
        found: dict[date, ContractExpiry] = {}
        year, month = start.year, start.month
        while date(year, month, 1) <= end:
            nominal = self.monthly_nominal(year, month)
            if start <= nominal <= end:
                found[nominal] = ContractExpiry(previous_trading_day(nominal), nominal, True)
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        day = start
        while day <= end:
            if day not in found and self.is_weekly_nominal(day):
                found[day] = ContractExpiry(previous_trading_day(day), day, False)
            day += timedelta(days=1)
        return sorted(found.values(), key=lambda c: c.expiry)

    def is_expiry(self, day: date) -> bool:
        """Whether a contract of this underlying expires on `day` under the calendar's rules."""
        # A nominal date moves back at most over a few holidays and a weekend.
        return any(c.expiry == day for c in self.expiries_between(day, day + timedelta(days=10)))


class InstrumentSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    instruments_file: Path = DEFAULT_FILE


@cached_settings
def get_instruments() -> dict[str, InstrumentSpec]:
    """Every configured underlying by name (NIFTY, BANKNIFTY, FINNIFTY, ...)."""
    raw = json.loads(InstrumentSettings().instruments_file.read_text())
    return {name: InstrumentSpec(name=name, **spec) for name, spec in raw.items()}
