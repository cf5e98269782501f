"""Which recorded snapshot answers an instant: never one across the night, never a stale one.

The rule: `as_of` is served by the latest snapshot at or before it **of the same trading session**
(the IST date), and only while that snapshot is at most `max_age` old. Otherwise there is no data
at that instant, and the answer names the next instant that has some, so a caller walking the
replay knows where to go. Without the rule an order at 09:20 would fill from the previous
evening's 15:30 quotes, and one at 14:00 from a 10:00 snapshot four hours stale.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from optrade.calendar import IST


def session_of(instant: datetime) -> date:
    """The trading session an instant belongs to: its IST date."""
    return instant.astimezone(IST).date()


@dataclass(frozen=True, slots=True)
class Gap:
    """No snapshot serves the instant: why, and the first snapshot after it (None: none)."""

    reason: str
    next_at: datetime | None


def _age(delta: timedelta) -> str:
    minutes, seconds = divmod(int(delta.total_seconds()), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{seconds:02d}s" if hours else f"{minutes}m{seconds:02d}s"


def serving_snapshot(
    taken_at: Sequence[datetime], as_of: datetime, max_age: timedelta
) -> int | Gap:
    """The index in `taken_at` (ascending) of the snapshot serving `as_of`, or the Gap."""
    i = bisect.bisect_right(taken_at, as_of) - 1
    next_at = taken_at[i + 1] if i + 1 < len(taken_at) else None
    if i < 0:
        return Gap("the replay has no snapshot at or before it", next_at)
    latest = taken_at[i]
    if session_of(latest) != session_of(as_of):
        return Gap(
            f"the session of {session_of(as_of).isoformat()} has no snapshot at or before it "
            f"(the latest, {latest.astimezone(IST).isoformat()}, is of another session)",
            next_at,
        )
    if as_of - latest > max_age:
        return Gap(
            f"the session's latest snapshot at or before it, {latest.astimezone(IST).isoformat()}, "
            f"is {_age(as_of - latest)} old, more than MARKET_DATA_REPLAY_MAX_AGE "
            f"({_age(max_age)})",
            next_at,
        )
    return i


def instants_between(
    taken_at: Sequence[datetime], start: datetime, end: datetime
) -> Sequence[datetime]:
    """The snapshot instants from `start` to `end` inclusive, ascending."""
    return taken_at[bisect.bisect_left(taken_at, start) : bisect.bisect_right(taken_at, end)]
