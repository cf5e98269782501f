"""Mark open positions to market: unrealized P&L and the portfolio's Greeks by underlying.

* The mark of a contract is the mid of its bid and ask; where a side is empty (missing or 0)
  its last traded price; a contract with neither has no mark (NaN), is listed in `unmarked` and
  adds nothing to the totals, so one illiquid leg never hides the others.
* Unrealized P&L = Σ (mark - entry) × units × side, side +1 for a BUY, -1 for a SELL.
* Greeks by underlying = Σ Greek × units × side, with the Greeks per unit of the quote (delta per
  point, gamma per point², theta per calendar day, vega per volatility point); a missing Greek
  (NaN) adds nothing.

Vectorised over the positions: the order engine marks every open position at each poll.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from optrade.errors import InvalidInput

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class PortfolioGreeks:
    delta: float
    gamma: float
    theta: float
    vega: float


@dataclass(frozen=True)
class MarkToMarket:
    """`marks` and `unrealized` per position (NaN where unmarked); `total_unrealized` over the
    marked ones; `unmarked` the indices of positions without any price."""

    marks: FloatArray
    unrealized: FloatArray
    total_unrealized: float
    unmarked: tuple[int, ...]
    greeks: dict[str, PortfolioGreeks]


def _prices(values: npt.ArrayLike, n: int, name: str) -> FloatArray:
    """A price column as floats, None and non-positive as NaN (an empty side)."""
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if array.size != n:
        raise InvalidInput(name, f"has {array.size} values for {n} positions")
    return np.where(array > 0, array, np.nan)


def marks_of(bid: npt.ArrayLike, ask: npt.ArrayLike, ltp: npt.ArrayLike) -> FloatArray:
    """The mid of bid and ask; the last price where a side is empty; NaN where all are."""
    b = np.asarray(bid, dtype=np.float64)
    n = b.size
    b, a, last = _prices(b, n, "bid"), _prices(ask, n, "ask"), _prices(ltp, n, "ltp")
    both = ~np.isnan(b) & ~np.isnan(a)
    marks: FloatArray = np.where(both, (b + a) / 2.0, last)
    return marks


def mark_of(bid: float | None, ask: float | None, ltp: float | None) -> float | None:
    """`marks_of` for one contract, without arrays (the fill path marks one quote): the mid of
    bid and ask; the last price where a side is empty; None where all are."""
    if bid is not None and bid > 0 and ask is not None and ask > 0:
        return (bid + ask) / 2.0
    return ltp if ltp is not None and ltp > 0 else None


def mark_to_market(
    *,
    underlying: npt.ArrayLike,
    entry: npt.ArrayLike,
    units: npt.ArrayLike,
    side: npt.ArrayLike,
    bid: npt.ArrayLike,
    ask: npt.ArrayLike,
    ltp: npt.ArrayLike,
    delta: npt.ArrayLike,
    gamma: npt.ArrayLike,
    theta: npt.ArrayLike,
    vega: npt.ArrayLike,
) -> MarkToMarket:
    """Marks, unrealized P&L and Greeks by underlying of open positions (one entry each)."""
    names = np.asarray(underlying, dtype=str).reshape(-1)
    n = names.size
    signed = _column(units, n, "units") * _sides(side, n)
    marks = marks_of(bid, ask, ltp)
    if marks.size != n:
        raise InvalidInput("bid", f"has {marks.size} values for {n} positions")
    unrealized = (marks - _column(entry, n, "entry")) * signed
    groups, index = np.unique(names, return_inverse=True)
    sums = [
        np.bincount(index, np.nan_to_num(_column(g, n, name) * signed), groups.size)
        for g, name in ((delta, "delta"), (gamma, "gamma"), (theta, "theta"), (vega, "vega"))
    ]
    greeks = {str(u): PortfolioGreeks(*(float(s[i]) for s in sums)) for i, u in enumerate(groups)}
    return MarkToMarket(
        marks=marks,
        unrealized=unrealized,
        total_unrealized=float(np.nansum(unrealized)),
        unmarked=tuple(int(i) for i in np.flatnonzero(np.isnan(marks))),
        greeks=greeks,
    )


def _column(values: npt.ArrayLike, n: int, name: str) -> FloatArray:
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if array.size != n:
        raise InvalidInput(name, f"has {array.size} values for {n} positions")
    return array


def _sides(values: npt.ArrayLike, n: int) -> FloatArray:
    """Sides as +1/-1: the numbers themselves, or BUY/SELL words (optrade.domain.Side)."""
    raw = np.asarray(values).reshape(-1)
    if raw.dtype.kind in "US":
        upper = np.char.upper(raw.astype(str))
        if not np.all((upper == "BUY") | (upper == "SELL")):
            raise InvalidInput("side", "must be BUY or SELL")
        raw = np.where(upper == "BUY", 1.0, -1.0)
    sides = _column(raw, n, "side")
    if not np.all(np.abs(sides) == 1.0):
        raise InvalidInput("side", "must be +1 (BUY) or -1 (SELL)")
    return sides
