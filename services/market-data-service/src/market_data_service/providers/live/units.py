"""Units and formats of live upstreams normalised at the edge, exactly once.

- OI and volume arrive in units (shares); we serve contracts: units / the contract's lot size.
  A value that is not a multiple of the lot is kept (divided) and flagged on the leg.
- Prices: rupees; 0 means "none" (no trade, no bid, no offer), as in NSE data.
- A leg of all zeros (price, bid, ask, OI, volume) is missing data (OpenAlgo answers a failed
  broker quote that way), not a price of 0: every field becomes null.
- Broker IV is percent; IV 0, or all-zero Greeks, means "not computed": null.
- Expiries: `30DEC25` (OpenAlgo optionchain), `30-DEC-25` (OpenAlgo expiry/symbol),
  `30-Dec-2025` (OpenAlgo greeks), `YYYY-MM-DD` (Upstox) all parse to a date.
- A number that is not finite, or not a number at all, makes the whole answer malformed.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any

from market_data_service.providers.base import BrokerGreeks, Leg

EXPIRY_FORMATS = ("%d%b%y", "%d-%b-%y", "%d-%b-%Y", "%Y-%m-%d", "%d%b%Y")


class MalformedAnswer(ValueError):
    """The upstream's answer is not what its documentation describes."""


def parse_expiry(text: Any) -> date:
    """`30DEC25`, `30-DEC-25`, `30-Dec-2025` or `2025-12-30` as a date."""
    if not isinstance(text, str):
        raise MalformedAnswer(f"expiry {text!r} is not a string")
    for fmt in EXPIRY_FORMATS:
        try:
            return datetime.strptime(text.strip(), fmt).date()
        except ValueError:
            continue
    raise MalformedAnswer(f"unrecognised expiry {text!r}")


def openalgo_expiry(expiry: date) -> str:
    """`30DEC25`: the form OpenAlgo's /optionchain takes."""
    return expiry.strftime("%d%b%y").upper()


def number(value: Any, name: str) -> float | None:
    """A finite number or None (absent/null); anything else is malformed."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedAnswer(f"{name} is not a number: {value!r}"[:200])
    if not math.isfinite(value):
        raise MalformedAnswer(f"{name} is not finite: {value!r}")
    return float(value)


def positive(value: Any, name: str) -> float | None:
    """A price: None when absent, zero or negative (the upstream's 'none')."""
    found = number(value, name)
    return found if found is not None and found > 0 else None


def to_contracts(units: float | None, lot_size: int, name: str) -> tuple[float | None, str | None]:
    """Units / lot size, and a warning when `units` is not a whole number of lots."""
    if units is None:
        return None, None
    if units < 0:
        raise MalformedAnswer(f"{name} is negative: {units:g}")
    lots = units / lot_size
    if abs(lots - round(lots)) > 1e-9:
        return lots, f"{name} {units:g} units is not a multiple of lot {lot_size}"
    return float(round(lots)), None


def broker_greeks(
    iv: Any, delta: Any, gamma: Any, theta: Any, vega: Any, *, where: str
) -> BrokerGreeks | None:
    """The upstream's IV (percent) and Greeks; None when it computed nothing (IV 0, all zero)."""
    named = {"iv": iv, "delta": delta, "gamma": gamma, "theta": theta, "vega": vega}
    values = [number(v, f"{where} {n}") for n, v in named.items()]
    if all(v is None or v == 0 for v in values):
        return None
    iv_value, greeks = values[0], values[1:]
    if all(v is None or v == 0 for v in greeks):
        greeks = [None, None, None, None]  # IV without Greeks: the Greeks were not computed
    return BrokerGreeks(
        iv=iv_value if iv_value else None,
        delta=greeks[0], gamma=greeks[1], theta=greeks[2], vega=greeks[3],
    )  # fmt: skip


def normalised_leg(
    raw: dict[str, Any],
    *,
    lot_size: int,
    where: str,
    broker: BrokerGreeks | None,
) -> Leg:
    """One leg from `{ltp, bid, ask, oi, volume}` in rupees and units; all zeros = missing."""
    ltp = number(raw.get("ltp"), f"{where} ltp")
    bid = number(raw.get("bid"), f"{where} bid")
    ask = number(raw.get("ask"), f"{where} ask")
    oi_units = number(raw.get("oi"), f"{where} oi")
    volume_units = number(raw.get("volume"), f"{where} volume")
    if all(not v for v in (ltp, bid, ask, oi_units, volume_units)):
        return Leg(ltp=None, bid=None, ask=None, oi=None, volume=None, broker=broker,
                   units_warning="all-zero leg from the upstream: no data")  # fmt: skip
    oi, oi_warning = to_contracts(oi_units, lot_size, "oi")
    volume, volume_warning = to_contracts(volume_units, lot_size, "volume")
    warnings = [w for w in (oi_warning, volume_warning) if w]
    return Leg(
        ltp=ltp if ltp and ltp > 0 else None,
        bid=bid if bid and bid > 0 else None,
        ask=ask if ask and ask > 0 else None,
        oi=oi,
        volume=int(round(volume)) if volume is not None else None,
        broker=broker,
        units_warning="; ".join(warnings) or None,
    )
