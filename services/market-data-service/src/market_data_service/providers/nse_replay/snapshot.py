"""What one replayed NSE file holds, once parsed, and the field readers both formats share."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from market_data_service.providers.base import StrikeRow
from optrade.calendar import IST


class SnapshotFormatError(ValueError):
    """A file is not an NSE option-chain snapshot this replay understands."""


@dataclass(frozen=True, slots=True)
class SnapshotFile:
    """One file of the replay folder, indexed by underlying and NSE time without parsing it."""

    underlying: str
    taken_at: datetime  # UTC
    path: Path


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One parsed file: spot, official close and every expiry's strikes."""

    underlying: str
    taken_at: datetime  # UTC
    last: float  # records.underlyingValue: the last index tick
    official_close: float | None  # records.index.last
    chains: dict[date, tuple[StrikeRow, ...]]  # expiry -> rows by ascending strike
    quantity_gcd: dict[date, int]  # expiry -> gcd of every order quantity (units); 0: none

    @property
    def expiries(self) -> list[date]:
        return sorted(self.chains)


def parse_nse_time(text: str) -> datetime:
    """`02-Dec-2025 15:13:29` (IST wall clock) as an aware UTC instant."""
    return datetime.strptime(text.strip(), "%d-%b-%Y %H:%M:%S").replace(tzinfo=IST).astimezone(UTC)


def parse_nse_date(text: str) -> date:
    """An expiry as NSE writes it: `02-Dec-2025`, `02-12-2025` or `2025-12-02`."""
    for fmt in ("%d-%b-%Y", "%d-%m-%Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(text.strip(), fmt).date()
        except ValueError:
            continue
    raise SnapshotFormatError(f"unrecognised expiry date {text!r}")


def positive(value: Any) -> float | None:
    """A price or IV: NSE's 0 means none, so 0, negatives and non-numbers become None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) and value > 0 else None


def count(value: Any) -> float | None:
    """An OI or volume: any finite number (0 is a real zero), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)
