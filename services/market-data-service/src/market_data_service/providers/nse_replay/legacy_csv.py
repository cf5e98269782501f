"""NSE's 2019 HTML option-chain page, scraped to CSV
(`NIFTY_exp2019-09-12_2019-09-09_09-30_IST.csv`).

One expiry per file, expiry and IST time from the file name, `-` for none, spot in `CurrentVal`.
Its OI is in units (multiples of the lot), so it is divided by the lot size of the expiry to give
contracts like the JSON; volume is already in contracts.
"""

from __future__ import annotations

import csv
import math
import re
from datetime import UTC, date, datetime
from pathlib import Path

from market_data_service.providers.base import Leg, StrikeRow
from market_data_service.providers.nse_replay.snapshot import (
    Snapshot,
    SnapshotFormatError,
    positive,
)
from optrade.calendar import IST

_LEGACY_CSV_NAME = re.compile(
    r"^(?P<underlying>[A-Za-z]+)_exp(?P<expiry>\d{4}-\d{2}-\d{2})_(?P<day>\d{4}-\d{2}-\d{2})_"
    r"(?P<hh>\d{2})-(?P<mm>\d{2})(?:-(?P<ss>\d{2}))?_IST\.csv$",
    re.IGNORECASE,
)
_QUANTITIES = ("CallBidQty", "CallAskQty", "PutBidQty", "PutAskQty")


def legacy_csv_name(path: Path) -> tuple[str, date, datetime]:
    """Underlying, expiry and NSE time (UTC) from `NIFTY_exp2019-09-12_2019-09-09_09-30_IST.csv`."""
    found = _LEGACY_CSV_NAME.match(path.name)
    if found is None:
        raise SnapshotFormatError(
            f"{path.name}: a CSV snapshot is named <UNDERLYING>_exp<YYYY-MM-DD>_<YYYY-MM-DD>_"
            "<HH-MM>_IST.csv"
        )
    wall = f"{found['day']} {found['hh']}:{found['mm']}:{found['ss'] or '00'}"
    taken_at = datetime.strptime(wall, "%Y-%m-%d %H:%M:%S").replace(tzinfo=IST).astimezone(UTC)
    return found["underlying"].upper(), date.fromisoformat(found["expiry"]), taken_at


def _cell(raw: dict[str, str | None], name: str) -> float | None:
    """A CSV number; `-`, blanks and non-numbers are none."""
    text = (raw.get(name) or "").strip().replace(",", "")
    if text in ("", "-"):
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _legacy_leg(raw: dict[str, str | None], side: str, lot_size: int) -> Leg | None:
    """`Call*` or `Put*` columns of one row; None when the page showed nothing on that side."""
    oi_units = _cell(raw, f"{side}OI")
    volume = _cell(raw, f"{side}Volume")
    leg = Leg(
        ltp=positive(_cell(raw, f"{side}LTP")),
        bid=positive(_cell(raw, f"{side}BidPrice")),
        ask=positive(_cell(raw, f"{side}AskPrice")),
        oi=oi_units / lot_size if oi_units is not None else None,
        volume=int(volume) if volume is not None else None,
        nse_iv=positive(_cell(raw, f"{side}IV")),
    )
    if all(v is None for v in (leg.ltp, leg.bid, leg.ask, leg.oi, leg.volume)):
        return None
    return leg


def _row_quantity_gcd(raw: dict[str, str | None], gcd: int) -> int:
    """`gcd` folded with the row's order quantities (units, multiples of the lot)."""
    for name in _QUANTITIES:
        quantity = _cell(raw, name)
        if quantity is not None and quantity > 0:
            gcd = math.gcd(gcd, int(quantity))
    return gcd


def parse_legacy_csv(path: Path, underlying: str, lot_size: int) -> Snapshot:
    """Parse one 2019 HTML-page CSV (one expiry) into a Snapshot."""
    _, expiry, taken_at = legacy_csv_name(path)
    rows: dict[float, StrikeRow] = {}
    spot: float | None = None
    gcd = 0
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or "StrikePrice" not in reader.fieldnames:
            raise SnapshotFormatError(f"{path.name}: no StrikePrice column")
        for raw in reader:
            strike = positive(_cell(raw, "StrikePrice"))
            if strike is None:
                continue
            spot = spot or positive(_cell(raw, "CurrentVal"))
            gcd = _row_quantity_gcd(raw, gcd)
            ce, pe = _legacy_leg(raw, "Call", lot_size), _legacy_leg(raw, "Put", lot_size)
            if ce is not None or pe is not None:
                rows[strike] = StrikeRow(strike, ce, pe)
    if spot is None:
        raise SnapshotFormatError(f"{path.name}: no CurrentVal (spot)")
    if not rows:
        raise SnapshotFormatError(f"{path.name}: no strike with data")
    return Snapshot(
        underlying=underlying,
        taken_at=taken_at,
        last=spot,
        official_close=None,
        chains={expiry: tuple(rows[k] for k in sorted(rows))},
        quantity_gcd={expiry: gcd},
    )
