"""The resting orders and exits of one chain against one chain observation, in bulk (numpy).

The engine evaluates thousands of pending rows per poll; most are resting LIMITs (and targets),
SL-Ms (and stop-losses) and trailing stops, and most do not fire. This evaluates them as arrays
with the rules of `matching` and `exits` (not on arrival): a row it reports fired fired by those
rules, at that price, and a row it does not report did not fire. Prices are integer paise, exact
on the 0.05 tick; 0 is an empty side. What is per position (the stop winning a tie with the
target, one-cancels-the-others) and the rarer cases (SL, IOC, arrival, expiry, exit_at,
square-off) the engine settles with the scalar functions, on the few rows concerned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from optrade.domain import Side
from order_service.domain.matching import Observation, PriceSource

Paise = npt.NDArray[np.int64]
Flags = npt.NDArray[np.bool_]
# `BatchResult.source` indexes this tuple.
SOURCES = (PriceSource.ASK, PriceSource.BID, PriceSource.LTP, PriceSource.LIMIT)
_ASK, _BID, _LTP, _LIMIT = range(4)


class Kind(IntEnum):
    LIMIT = 0  # a resting LIMIT order, or a target: `level` is its price
    STOP = 1  # a triggered-pending SL-M order, or a stop-loss: `level` is its trigger
    TRAIL = 2  # a trailing stop: `level` is its points, `best` the best LTP so far


def to_paise(value: Decimal | None) -> int:
    """Rupees on the tick to integer paise; None (an empty side) is 0."""
    return int(value * 100) if value is not None else 0


def to_rupees(paise: int) -> Decimal:
    return Decimal(int(paise)) / 100


@dataclass(frozen=True)
class ChainQuotes:
    """One observation of every contract of a chain, as paise arrays indexed by contract."""

    ltp: Paise
    bid: Paise
    ask: Paise

    @classmethod
    def of(cls, observations: Sequence[Observation | None]) -> ChainQuotes:
        """Contract i is observations[i]; None (no quote) is all-empty."""
        rows = [
            (to_paise(o.ltp), to_paise(o.bid), to_paise(o.ask)) if o else (0, 0, 0)
            for o in observations
        ]
        table = np.array(rows, dtype=np.int64).reshape(-1, 3)
        return cls(table[:, 0].copy(), table[:, 1].copy(), table[:, 2].copy())


@dataclass(frozen=True)
class BookRow:
    contract: int  # index into ChainQuotes
    side: Side  # the order's side; an exit's closing side (SELL for a long position)
    kind: Kind
    level: Decimal  # the limit price, the stop trigger, or the trailing points
    best: Decimal | None = None  # TRAIL: best LTP so far


@dataclass(frozen=True)
class Book:
    """Pending rows as parallel arrays."""

    contract: npt.NDArray[np.intp]
    buy: Flags  # True where the row's side is BUY
    kind: npt.NDArray[np.int8]
    level: Paise
    best: Paise  # 0: no best yet (or not a trailing stop)

    @classmethod
    def of(cls, rows: Sequence[BookRow]) -> Book:
        return cls(
            np.array([r.contract for r in rows], dtype=np.intp),
            np.array([r.side == Side.BUY for r in rows], dtype=np.bool_),
            np.array([r.kind for r in rows], dtype=np.int8),
            np.array([to_paise(r.level) for r in rows], dtype=np.int64),
            np.array([to_paise(r.best) for r in rows], dtype=np.int64),
        )


@dataclass(frozen=True)
class BatchResult:
    fired: Flags
    price: Paise  # the fill price where fired
    source: npt.NDArray[np.int8]  # index into SOURCES where fired
    best: Paise  # the trailing stops' best LTP after this observation (keep it)


def evaluate(book: Book, quotes: ChainQuotes) -> BatchResult:
    """Which rows fire on this observation, at which price: the scalar rules over arrays."""
    ltp, bid, ask = quotes.ltp[book.contract], quotes.bid[book.contract], quotes.ask[book.contract]
    buy = book.buy
    taken = np.where(buy, ask, bid)
    far = np.where(taken > 0, taken, ltp)  # the side the row takes, the LTP where it is empty
    far_source = np.where(taken > 0, np.where(buy, _ASK, _BID), _LTP)
    reference = np.where(ltp > 0, ltp, far)  # what a stop compares with its trigger

    trail = book.kind == Kind.TRAIL
    # A long's trailing stop (closing SELL) follows the highest LTP, a short's the lowest.
    moved = np.where(buy, np.minimum(book.best, ltp), np.maximum(book.best, ltp))
    moved = np.where(book.best == 0, ltp, moved)
    best = np.where(trail & (ltp > 0), moved, book.best)
    stop_level = np.where(trail, np.where(buy, best + book.level, best - book.level), book.level)
    armed = (book.kind == Kind.STOP) | (trail & (best > 0))
    crossed = np.where(buy, reference >= stop_level, reference <= stop_level)
    stop_fired = armed & (reference > 0) & crossed

    limit = book.kind == Kind.LIMIT
    reached = np.where(buy, far <= book.level, far >= book.level)
    limit_fired = limit & (far > 0) & reached

    return BatchResult(
        fired=stop_fired | limit_fired,
        price=np.where(limit_fired, book.level, far),
        source=np.where(limit_fired, _LIMIT, far_source).astype(np.int8),
        best=best,
    )
