"""Contract specifications per underlying: strike step, expiry rules by era and lot size by expiry.

NSE revises lot sizes and expiry weekdays, so both belong to a contract's expiry date. The table
ships as `instruments.json` and can be replaced by the file named in `INSTRUMENTS_FILE`. A
contract's expiry is its nominal date (the era's weekday: every week for weekly eras, the last one
of the month for monthlies) moved to the previous regular trading day when that is a holiday.
"""

from __future__ import annotations

import calendar as _calendar
import json
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from pydantic import BaseModel
from pydantic_settings import BaseSettings, SettingsConfigDict

from optrade.calendar import is_estimated, previous_trading_day
from optrade.settings import cached_settings

DEFAULT_FILE = Path(__file__).with_name("instruments.json")


class LotSizeEntry(BaseModel):
    from_expiry: date
    lot_size: int


class ExpiryRule(BaseModel):
    """From contracts expiring on `from_expiry`: the expiry weekday and whether weeklies list."""

    from_expiry: date
    weekday: int  # Monday = 0
    weekly: bool


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

    def lot_size_for(self, expiry: date) -> int:
        """Lot size of the contract expiring on `expiry`."""
        applicable = [e for e in self.lot_sizes if e.from_expiry <= expiry]
        entry = max(applicable, key=lambda e: e.from_expiry) if applicable else self.lot_sizes[0]
        return entry.lot_size

    def rule_for(self, nominal: date) -> ExpiryRule:
        """The expiry rule of contracts whose nominal expiry is `nominal`."""
        applicable = [r for r in self.expiry_rules if r.from_expiry <= nominal]
        return applicable[-1] if applicable else self.expiry_rules[0]

    def monthly_nominal(self, year: int, month: int) -> date:
        """The last expiry weekday of the month, under the rule in force on that date."""
        last = date(year, month, _calendar.monthrange(year, month)[1])
        for rule in reversed(self.expiry_rules):
            candidate = last - timedelta(days=(last.weekday() - rule.weekday) % 7)
            if candidate >= rule.from_expiry:
                return candidate
        return candidate

    def is_weekly_nominal(self, day: date) -> bool:
        rule = self.rule_for(day)
        return rule.weekly and day.weekday() == rule.weekday

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
