"""Contract specifications per underlying: strike step, expiry weekday and lot size by expiry.

NSE revises lot sizes, so a lot size belongs to a contract's expiry date. The table ships as
`instruments.json` and can be replaced by the file named in `INSTRUMENTS_FILE`.
"""

from __future__ import annotations

import json
from datetime import date
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_FILE = Path(__file__).with_name("instruments.json")


class LotSizeEntry(BaseModel):
    from_expiry: date
    lot_size: int


class InstrumentSpec(BaseModel):
    name: str
    strike_step: int
    expiry_weekday: int  # Monday = 0; NSE moved index expiries to Tuesday from Sep-2025
    weekly: bool
    reference_spot: float  # where the simulated market starts
    lot_sizes: list[LotSizeEntry]

    def lot_size_for(self, expiry: date) -> int:
        """Lot size of the contract expiring on `expiry`."""
        applicable = [e for e in self.lot_sizes if e.from_expiry <= expiry]
        entry = max(applicable, key=lambda e: e.from_expiry) if applicable else self.lot_sizes[0]
        return entry.lot_size


class InstrumentSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    instruments_file: Path = DEFAULT_FILE


@lru_cache
def get_instruments() -> dict[str, InstrumentSpec]:
    """Every configured underlying by name (NIFTY, BANKNIFTY, FINNIFTY, ...)."""
    raw = json.loads(InstrumentSettings().instruments_file.read_text())
    return {name: InstrumentSpec(name=name, **spec) for name, spec in raw.items()}
