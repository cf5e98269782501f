"""The rule picking the snapshot that serves an instant, alone: same session, at most max age."""

from __future__ import annotations

from datetime import datetime, timedelta

from market_data_service.providers.nse_replay.sessions import (
    Gap,
    instants_between,
    serving_snapshot,
)
from optrade.domain import IST

MAX_AGE = timedelta(minutes=45)
TAKEN = [
    datetime(2025, 11, 12, 15, 30, tzinfo=IST),  # the evening close
    datetime(2025, 11, 13, 10, 0, 15, tzinfo=IST),  # the next session's first
    datetime(2025, 11, 13, 10, 11, 46, tzinfo=IST),
    datetime(2025, 11, 13, 15, 30, tzinfo=IST),
]


def at(hh: int, mm: int, ss: int = 0, day: int = 13) -> datetime:
    return datetime(2025, 11, day, hh, mm, ss, tzinfo=IST)


def test_the_latest_snapshot_of_the_session_serves_while_fresh() -> None:
    assert serving_snapshot(TAKEN, at(10, 0, 15), MAX_AGE) == 1
    assert serving_snapshot(TAKEN, at(10, 11, 45), MAX_AGE) == 1
    assert serving_snapshot(TAKEN, at(10, 56, 46), MAX_AGE) == 2  # exactly 45 minutes old
    assert serving_snapshot(TAKEN, at(16, 15, day=12), MAX_AGE) == 0  # after the close, same day


def test_the_night_is_never_crossed() -> None:
    gap = serving_snapshot(TAKEN, at(9, 20), MAX_AGE)
    assert isinstance(gap, Gap) and gap.next_at == TAKEN[1]
    assert "is of another session" in gap.reason


def test_a_stale_snapshot_is_a_gap_naming_the_next() -> None:
    gap = serving_snapshot(TAKEN, at(10, 56, 47), MAX_AGE)
    assert isinstance(gap, Gap) and gap.next_at == TAKEN[3]
    assert "is 45m01s old" in gap.reason


def test_before_the_first_and_after_the_last() -> None:
    before = serving_snapshot(TAKEN, at(15, 29, day=12), MAX_AGE)
    assert isinstance(before, Gap) and before.next_at == TAKEN[0]
    after = serving_snapshot(TAKEN, at(10, 0, day=14), MAX_AGE)
    assert isinstance(after, Gap) and after.next_at is None


def test_instants_between_is_inclusive_at_both_ends() -> None:
    assert list(instants_between(TAKEN, TAKEN[1], TAKEN[3])) == TAKEN[1:]
    assert list(instants_between(TAKEN, at(10, 0, 16), at(15, 29, 59))) == [TAKEN[2]]
