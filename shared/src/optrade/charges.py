"""Brokerage and statutory charges on NSE index option orders, from a rate table keyed by date.

The table ships as `charges.json` (docs/charges.md shows it with its sources) and can be replaced
by the file named in `CHARGES_FILE`. Each order (one fill: the entry or one close) pays:

    brokerage     brokerage_per_order (a flat fee per executed order)
    stt           stt_sell_percent of the premium turnover, on the sell side only
    exchange      exchange_transaction_percent of the premium turnover, both sides
    sebi          sebi_fee_per_crore per crore (10 000 000) of premium turnover, both sides
    ipft          ipft_per_crore per crore of premium turnover, both sides (NSE's IPFT levy)
    stamp         stamp_duty_buy_percent of the premium turnover, on the buy side only
    gst           gst_percent of (brokerage + exchange + sebi + ipft)

A long option settled in the money at expiry pays no exit order but the exercise STT:
stt_exercise_percent of its settlement value (intrinsic × units); a short settled in the money and
any option settled worthless pay nothing at settlement.

premium turnover = price × lots × lot size; every line is rounded to the paisa (half up). A trade
(one close of a position) carries the charges of its closing order plus its share of the opening
order: the opening order's lines for the closed lots, with the opening brokerage split by lots.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from pydantic import BaseModel
from pydantic_settings import BaseSettings, SettingsConfigDict

from optrade.domain import Side
from optrade.settings import cached_settings

DEFAULT_FILE = Path(__file__).with_name("charges.json")
PAISA = Decimal("0.01")
CRORE = Decimal(10_000_000)
HUNDRED = Decimal(100)


class ChargesSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CHARGES_", env_file=".env", extra="ignore")

    file: Path = DEFAULT_FILE  # CHARGES_FILE: a rate table to use instead of the bundled one


class NoChargeSchedule(ValueError):
    """The rate table starts after the date asked: the charges are unknown, not zero."""


class ChargeSchedule(BaseModel):
    """The rates in force from `effective_from` until the next schedule."""

    effective_from: date
    source: str = ""
    brokerage_per_order: Decimal
    stt_sell_percent: Decimal
    # STT on an in-the-money option exercised at expiry: percent of the settlement value, holder
    stt_exercise_percent: Decimal
    exchange_transaction_percent: Decimal
    sebi_fee_per_crore: Decimal
    ipft_per_crore: Decimal
    stamp_duty_buy_percent: Decimal
    gst_percent: Decimal


class RateTable(BaseModel):
    description: str = ""
    schedules: list[ChargeSchedule]

    def on(self, day: date) -> ChargeSchedule:
        """The schedule in force on `day` (the latest effective on or before it)."""
        in_force = [s for s in self.schedules if s.effective_from <= day]
        if not in_force:
            first = min(s.effective_from for s in self.schedules)
            raise NoChargeSchedule(f"no charge schedule before {first.isoformat()} (asked {day})")
        return max(in_force, key=lambda s: s.effective_from)


@cached_settings
def rate_table() -> RateTable:
    return RateTable.model_validate(json.loads(ChargesSettings().file.read_text()))


def _paisa(value: Decimal) -> Decimal:
    return value.quantize(PAISA, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class OrderCharges:
    """The charge lines of one order (or a share of one), rupees."""

    brokerage: Decimal
    stt: Decimal
    exchange: Decimal
    sebi: Decimal
    ipft: Decimal
    stamp: Decimal
    gst: Decimal

    @property
    def total(self) -> Decimal:
        statutory = self.stt + self.exchange + self.sebi + self.ipft + self.stamp
        return self.brokerage + statutory + self.gst


def order_charges(
    schedule: ChargeSchedule, action: Side, turnover: Decimal, brokerage_share: Decimal = Decimal(1)
) -> OrderCharges:
    """Charges on one order of `turnover` rupees of premium; `action` BUY or SELL."""
    brokerage = _paisa(schedule.brokerage_per_order * brokerage_share)
    exchange = _paisa(turnover * schedule.exchange_transaction_percent / HUNDRED)
    sebi = _paisa(turnover * schedule.sebi_fee_per_crore / CRORE)
    ipft = _paisa(turnover * schedule.ipft_per_crore / CRORE)
    selling = action is Side.SELL
    return OrderCharges(
        brokerage=brokerage,
        stt=_paisa(turnover * schedule.stt_sell_percent / HUNDRED) if selling else Decimal("0.00"),
        exchange=exchange,
        sebi=sebi,
        ipft=ipft,
        stamp=Decimal("0.00")
        if selling
        else _paisa(turnover * schedule.stamp_duty_buy_percent / HUNDRED),
        gst=_paisa((brokerage + exchange + sebi + ipft) * schedule.gst_percent / HUNDRED),
    )


def round_trip_charges(
    *,
    side: Side,
    entry_price: Decimal,
    exit_price: Decimal,
    lots: int,
    lots_opened: int,
    lot_size: int,
    entry_day: date,
    exit_day: date,
    table: RateTable | None = None,
) -> Decimal:
    """Charges of one close of `lots` of a position opened with `lots_opened` on `side`."""
    rates = table or rate_table()
    units = Decimal(lots * lot_size)
    entry = order_charges(
        rates.on(entry_day), side, entry_price * units, Decimal(lots) / Decimal(lots_opened)
    )
    exit_ = order_charges(rates.on(exit_day), side.closing, exit_price * units)
    return entry.total + exit_.total


def exercise_charges(
    intrinsic: Decimal, units: int, expiry_day: date, table: RateTable | None = None
) -> Decimal:
    """Exercise STT of a long option settled at `intrinsic` rupees a unit (zero when worthless)."""
    schedule = (table or rate_table()).on(expiry_day)
    return _paisa(intrinsic * Decimal(units) * schedule.stt_exercise_percent / HUNDRED)


def settlement_charges(
    *,
    side: Side,
    entry_price: Decimal,
    intrinsic: Decimal,
    lots: int,
    lots_opened: int,
    lot_size: int,
    entry_day: date,
    expiry_day: date,
    table: RateTable | None = None,
) -> Decimal:
    """Charges of `lots` settled at expiry: the opening order's share, plus the exercise STT when
    a long settles in the money (no closing order is placed)."""
    rates = table or rate_table()
    units = lots * lot_size
    entry = order_charges(
        rates.on(entry_day), side, entry_price * units, Decimal(lots) / Decimal(lots_opened)
    )
    exercise = exercise_charges(intrinsic, units, expiry_day, rates) if side is Side.BUY else 0
    return entry.total + exercise
