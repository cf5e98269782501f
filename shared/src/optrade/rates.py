"""The risk-free rate at an instant: RBI's 91-day Treasury Bill cut-off yield, from a dated table.

The table ships as `rates.json` (docs/contracts.md shows it with its sources) and can be replaced
by the file named in `RATES_FILE`. Each row is one weekly auction: RBI's implicit yield at the
cut-off price, `(100 - P) / P × 365 / 91` in percent. The row in force at an instant is the latest
auction on or before its IST date (the first row before the table starts). The pricing wants a
continuously compounded decimal, so `rate_at` converts: `r = 365/91 × ln(1 + y × 91/365)`.
"""

from __future__ import annotations

import json
import math
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from pydantic import BaseModel
from pydantic_settings import BaseSettings, SettingsConfigDict

from optrade.domain import IST
from optrade.settings import cached_settings

DEFAULT_FILE = Path(__file__).with_name("rates.json")
TENOR_DAYS = 91
DAYS_PER_YEAR = 365  # RBI's T-bill yield convention


class RatesSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RATES_", env_file=".env", extra="ignore")

    file: Path = DEFAULT_FILE  # RATES_FILE: a rate table to use instead of the bundled one


class AuctionYield(BaseModel):
    """One 91-day T-bill auction: its date, cut-off yield (percent) and where it was read."""

    auction: date
    cutoff_yield_percent: Decimal
    source: str

    @property
    def continuous(self) -> float:
        """The cut-off yield as a continuously compounded decimal."""
        simple = float(self.cutoff_yield_percent) / 100.0
        period = TENOR_DAYS / DAYS_PER_YEAR
        return math.log1p(simple * period) / period


class RateTable(BaseModel):
    description: str = ""
    rows: list[AuctionYield]  # ascending auction dates

    def row_on(self, day: date) -> AuctionYield:
        """The auction in force on `day`: the latest on or before it, else the first."""
        in_force = [row for row in self.rows if row.auction <= day]
        return in_force[-1] if in_force else self.rows[0]


@cached_settings
def rate_table() -> RateTable:
    table = RateTable.model_validate(json.loads(RatesSettings().file.read_text()))
    table.rows.sort(key=lambda row: row.auction)
    return table


def rate_at(instant: datetime) -> float:
    """The risk-free rate (decimal, continuously compounded) in force at `instant`."""
    return rate_table().row_on(instant.astimezone(IST).date()).continuous
