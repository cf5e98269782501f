"""Which trades a run counts, and the exact record of the ones it counted.

A run counts the trades in its `TradeWindow` (closed in [start, end), of its mode: `live` unless
asked otherwise, both when the mode is None), minus those an earlier run of the same trading date
counted already (a re-check counts only the late arrivals). The ids it counted are stored with the
run as ranges of consecutive ids (trades of a session are mostly consecutive, so a day of trades
is a handful of ranges), computed in the same snapshot as the counts, so the export of a run is
exactly the trades it counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from sqlalchemy import ColumnElement, Connection, and_, func, not_, or_, select, true

from optrade.db.models import Trade
from optrade.domain import TradeWindow

TRADE = Trade.__table__  # type: ignore[attr-defined]
IdRanges = list[tuple[int, int]]


class IdSpan(NamedTuple):
    """How many trades match, and the lowest and highest of their ids (0, 0 when none)."""

    trades: int
    low: int
    high: int


def in_ranges(ranges: Sequence[Sequence[int]]) -> ColumnElement[bool]:
    """Trade ids inside any of the inclusive `[low, high]` ranges."""
    if not ranges:
        return not_(true())
    return or_(*(TRADE.c.id.between(low, high) for low, high in ranges))


def run_condition(
    window: TradeWindow, exclude: Sequence[Sequence[int]] = ()
) -> ColumnElement[bool]:
    """The trades a run counts: those in its window (`TradeWindow.conditions`), minus the ids
    counted already."""
    conditions = [*window.conditions(TRADE.c), *([not_(in_ranges(exclude))] if exclude else [])]
    return and_(true(), *conditions)


def counted_ranges(
    conn: Connection, condition: ColumnElement[bool], span: IdSpan | None = None
) -> IdRanges:
    """The ids matching `condition` as ranges of consecutive ids (only the ends leave SQL).

    `span`, the count and end ids of the same trades when a query has them already, answers
    without another query when no id is missing between the ends (ids are unique), and bounds
    the search otherwise.
    """
    if span is not None:
        if span.trades == 0:
            return []
        if span.high - span.low + 1 == span.trades:
            return [(span.low, span.high)]
        condition = and_(condition, TRADE.c.id.between(span.low, span.high))
    ordered = TRADE.c.id
    numbered = (
        select(
            ordered.label("id"),
            func.lag(ordered).over(order_by=ordered).label("before"),
            func.lead(ordered).over(order_by=ordered).label("after"),
        )
        .where(condition)
        .subquery()
    )
    starts = or_(numbered.c.before.is_(None), numbered.c.before != numbered.c.id - 1)
    ends = or_(numbered.c.after.is_(None), numbered.c.after != numbered.c.id + 1)
    rows = conn.execute(
        select(numbered.c.id, starts.label("starts"), ends.label("ends"))
        .where(or_(starts, ends))
        .order_by(numbered.c.id)
    )
    ranges: IdRanges = []
    low = 0
    for trade_id, is_start, is_end in rows:
        if is_start:
            low = int(trade_id)
        if is_end:
            ranges.append((low, int(trade_id)))
    return ranges


def merge(*groups: Sequence[Sequence[int]]) -> IdRanges:
    """One sorted list of disjoint ranges covering every range of `groups`."""
    merged: IdRanges = []
    for low, high in sorted((int(a), int(b)) for group in groups for a, b in group):
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged


def count_ids(ranges: Sequence[Sequence[int]]) -> int:
    return sum(int(high) - int(low) + 1 for low, high in ranges)
