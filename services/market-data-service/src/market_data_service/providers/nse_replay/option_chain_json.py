"""NSE's `option-chain-indices` JSON, legacy field names or v3 (`buyPrice1`/`sellPrice1`).

- Leg fields: `bidprice`/`askPrice` (legacy) or `buyPrice1`/`sellPrice1` (v3); the row expiry is
  `expiryDate` or `expiryDates` (v3), `DD-Mon-YYYY` or `DD-MM-YYYY`.
- Zeros are data, not errors: IV 0, lastPrice 0, bid 0, ask 0 become null. A leg that is absent
  (or a v3 placeholder with `identifier: null`) becomes `null` on its strike; a strike with
  neither leg is skipped.
- `records.index.last` is kept as the official close (the settlement value on expiry day).
"""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path
from typing import Any

from market_data_service.providers.base import Leg, StrikeRow
from market_data_service.providers.nse_replay.files import read_snapshot
from market_data_service.providers.nse_replay.snapshot import (
    Snapshot,
    SnapshotFormatError,
    count,
    parse_nse_date,
    parse_nse_time,
    positive,
)

_QUANTITIES = ("bidQty", "askQty", "buyQuantity1", "sellQuantity1", "totalBuyQuantity",
               "totalSellQuantity")  # fmt: skip


def _first(raw: dict[str, Any], *names: str) -> Any:
    for name in names:
        if name in raw:
            return raw[name]
    return None


def quantity_gcd(raw: Any) -> int:
    """Greatest common divisor of a leg's order quantities (units): a multiple of the lot."""
    result = 0
    if isinstance(raw, dict):
        for name in _QUANTITIES:
            value = raw.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
                result = math.gcd(result, int(value))
    return result


def parse_leg(raw: Any) -> Leg | None:
    """One `CE`/`PE` object; None when absent or a v3 placeholder without a contract."""
    if not isinstance(raw, dict) or ("identifier" in raw and raw["identifier"] is None):
        return None
    volume = count(raw.get("totalTradedVolume"))
    return Leg(
        ltp=positive(raw.get("lastPrice")),
        bid=positive(_first(raw, "bidprice", "bidPrice", "buyPrice1")),
        ask=positive(_first(raw, "askPrice", "askprice", "sellPrice1")),
        oi=count(raw.get("openInterest")),
        volume=int(volume) if volume is not None else None,
        nse_iv=positive(raw.get("impliedVolatility")),
    )


def parse_snapshot(path: Path, underlying: str) -> Snapshot:
    """Parse one file (`*.json` or `*.json.gz`) into per-expiry chains (the whole file, once)."""
    body = json.loads(read_snapshot(path))
    records = body.get("records") if isinstance(body, dict) else None
    if not isinstance(records, dict) or not isinstance(records.get("data"), list):
        raise SnapshotFormatError(f"{path.name}: no records.data")
    by_expiry: dict[date, dict[float, StrikeRow]] = {}
    gcds: dict[date, int] = {}
    leg_spot: float | None = None
    for raw_row in records["data"]:
        expiry_text = _first(raw_row, "expiryDate", "expiryDates")
        strike = positive(raw_row.get("strikePrice"))
        if not isinstance(expiry_text, str) or strike is None:
            continue
        ce, pe = parse_leg(raw_row.get("CE")), parse_leg(raw_row.get("PE"))
        if ce is None and pe is None:
            continue
        expiry = parse_nse_date(expiry_text)
        for raw_leg in (raw_row.get("CE"), raw_row.get("PE")):
            gcds[expiry] = math.gcd(gcds.get(expiry, 0), quantity_gcd(raw_leg))
            if leg_spot is None and isinstance(raw_leg, dict):
                leg_spot = positive(raw_leg.get("underlyingValue"))
        by_expiry.setdefault(expiry, {})[strike] = StrikeRow(strike, ce, pe)
    last = positive(records.get("underlyingValue")) or leg_spot
    if last is None:
        raise SnapshotFormatError(f"{path.name}: no underlyingValue")
    index = records.get("index")
    official_close = positive(index.get("last")) if isinstance(index, dict) else None
    return Snapshot(
        underlying=underlying,
        taken_at=parse_nse_time(str(records.get("timestamp", ""))),
        last=last,
        official_close=official_close,
        chains={e: tuple(rows[k] for k in sorted(rows)) for e, rows in by_expiry.items()},
        quantity_gcd=gcds,
    )
