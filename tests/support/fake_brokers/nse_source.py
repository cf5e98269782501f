"""A real NSE option-chain snapshot as a live broker would show it today.

The fake brokers serve one NSE file (`FAKE_NSE_SNAPSHOT`) with every expiry moved forward by
`FAKE_SHIFT_DAYS` (so the contracts are live now) and everything else as NSE published it:
spot, bid/ask, LTP, NSE's IV (served as the broker's IV). OI and volume are converted from NSE's
contracts to units (x the lot of the original contract, from `FAKE_LOT_SIZE`, default 75) the
way brokers send them. India VIX is the NSE close of the snapshot's date (`FAKE_VIX_FILE`).
This module parses NSE's JSON itself: it does not use the service's replay code.
"""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path
from statistics import NormalDist
from typing import Any

IST = timezone(timedelta(hours=5, minutes=30))
_N = NormalDist()


@dataclass
class FakeLeg:
    ltp: float
    bid: float
    ask: float
    oi_units: int
    volume_units: int
    iv: float  # percent; 0 = NSE published none
    lot: int


@dataclass
class FakeMarket:
    underlying: str
    spot: float
    vix: float | None
    taken_at: datetime
    shift_days: int
    chains: dict[date, dict[float, tuple[FakeLeg | None, FakeLeg | None]]] = field(
        default_factory=dict
    )

    def expiries(self, now: datetime) -> list[date]:
        """Shifted expiries not yet expired at `now` (brokers drop past dates)."""
        return sorted(e for e in self.chains if expiry_close(e) > now)


def expiry_close(expiry: date) -> datetime:
    return datetime.combine(expiry, time(15, 30), tzinfo=IST)


def nse_date(text: str) -> date:
    return datetime.strptime(text.strip(), "%d-%b-%Y").date()


def _leg(raw: Any, lot: int) -> FakeLeg | None:
    if not isinstance(raw, dict) or raw.get("identifier", "") is None:
        return None
    return FakeLeg(
        ltp=float(raw.get("lastPrice") or 0),
        bid=float(raw.get("bidprice", raw.get("buyPrice1")) or 0),
        ask=float(raw.get("askPrice", raw.get("sellPrice1")) or 0),
        oi_units=round(float(raw.get("openInterest") or 0) * lot),
        volume_units=round(float(raw.get("totalTradedVolume") or 0) * lot),
        iv=float(raw.get("impliedVolatility") or 0),
        lot=lot,
    )


def vix_close(path: Path | None, day: date) -> float | None:
    if path is None:
        return None
    with path.open(newline="") as handle:
        for row in csv.reader(handle):
            if row and row[0].strip().upper() == day.strftime("%d-%b-%Y").upper():
                return float(row[4])
    return None


def load_market(path: Path, *, shift_days: int, lot: int, vix_file: Path | None) -> FakeMarket:
    records = json.loads(path.read_bytes())["records"]
    taken_at = datetime.strptime(records["timestamp"], "%d-%b-%Y %H:%M:%S").replace(tzinfo=IST)
    market = FakeMarket(
        underlying=path.name.split("_")[0].upper(),
        spot=float(records["underlyingValue"]),
        vix=vix_close(vix_file, taken_at.date()),
        taken_at=taken_at,
        shift_days=shift_days,
    )
    for row in records["data"]:
        expiry = nse_date(row.get("expiryDate") or row["expiryDates"]) + timedelta(days=shift_days)
        ce, pe = _leg(row.get("CE"), lot), _leg(row.get("PE"), lot)
        if ce or pe:
            market.chains.setdefault(expiry, {})[float(row["strikePrice"])] = (ce, pe)
    return market


def market_from_env() -> FakeMarket:
    vix = os.environ.get("FAKE_VIX_FILE")
    return load_market(
        Path(os.environ["FAKE_NSE_SNAPSHOT"]),
        shift_days=int(os.environ.get("FAKE_SHIFT_DAYS", "0")),
        lot=int(os.environ.get("FAKE_LOT_SIZE", "75")),
        vix_file=Path(vix) if vix else None,
    )


def shift_for_today(snapshot: Path, now: datetime | None = None) -> int:
    """Days that move the snapshot's date to today (IST)."""
    now = now or datetime.now(UTC)
    taken = datetime.strptime(snapshot.name.split("_")[1], "%Y-%m-%d").date()
    return (now.astimezone(IST).date() - taken).days


def bs_greeks(leg: FakeLeg, is_call: bool, spot: float, strike: float, expiry: date,
              now: datetime) -> dict[str, float]:  # fmt: skip
    """A broker's own Greeks at its IV (Black-Scholes, rate 0): all zero without an IV."""
    t = (expiry_close(expiry) - now).total_seconds() / (365 * 86400)
    if leg.iv <= 0 or t <= 0:
        return {"implied_volatility": 0.0, "delta": 0.0, "gamma": 0.0, "theta": 0.0, "vega": 0.0}
    sigma = leg.iv / 100
    d1 = (math.log(spot / strike) + sigma * sigma / 2 * t) / (sigma * math.sqrt(t))
    pdf = _N.pdf(d1)
    return {
        "implied_volatility": leg.iv,
        "delta": round(_N.cdf(d1) if is_call else _N.cdf(d1) - 1, 4),
        "gamma": round(pdf / (spot * sigma * math.sqrt(t)), 6),
        "theta": round(-spot * pdf * sigma / (2 * math.sqrt(t)) / 365, 4),
        "vega": round(spot * pdf * math.sqrt(t) / 100, 4),
    }
