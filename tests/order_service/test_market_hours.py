"""The NSE session, the next open, the last close and market time held, on real calendar dates."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from optrade.calendar import IST
from optrade.domain import TradeMode
from optrade.errors import InvalidInput, http_status
from order_service.market_hours import (
    MarketClosed,
    in_session,
    last_session_close,
    market_timing,
    next_session_open,
    session_seconds_between,
)

SKEW = timedelta(seconds=5)


def ist(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=IST)


@pytest.mark.parametrize(
    ("moment", "open_"),
    [
        ("2025-12-01 09:14:59", False),  # Monday, a second before the open
        ("2025-12-01 09:15:00", True),
        ("2025-12-01 15:29:59", True),
        ("2025-12-01 15:30:00", False),  # the close ends the session
        ("2025-12-06 11:00:00", False),  # Saturday
        ("2025-12-25 11:00:00", False),  # Christmas, an NSE holiday on a Thursday
    ],
)
def test_the_session_is_0915_to_1530_ist_on_a_trading_day(moment: str, open_: bool) -> None:
    assert in_session(ist(moment)) is open_


@pytest.mark.parametrize(
    ("moment", "opens", "closed"),
    [
        ("2025-12-06 11:00:00", "2025-12-08 09:15:00", "2025-12-05 15:30:00"),  # Sat
        ("2025-12-01 08:00:00", "2025-12-01 09:15:00", "2025-11-28 15:30:00"),  # Mon early
        ("2025-12-01 16:00:00", "2025-12-02 09:15:00", "2025-12-01 15:30:00"),  # Mon late
        ("2025-12-24 18:00:00", "2025-12-26 09:15:00", "2025-12-24 15:30:00"),  # before Xmas
        ("2025-12-25 10:00:00", "2025-12-26 09:15:00", "2025-12-24 15:30:00"),  # Xmas
    ],
)
def test_next_open_and_last_close_skip_weekends_and_holidays(
    moment: str, opens: str, closed: str
) -> None:
    assert next_session_open(ist(moment)) == ist(opens)
    assert last_session_close(ist(moment)) == ist(closed)


def test_market_time_counts_only_session_seconds() -> None:
    # Friday 15:00 to Monday 09:45: 30 minutes each side of the weekend.
    assert session_seconds_between(ist("2025-12-05 15:00"), ist("2025-12-08 09:45")) == 3600
    # Saturday to Sunday: none; the same instant twice: none; backwards: none.
    assert session_seconds_between(ist("2025-12-06 10:00"), ist("2025-12-07 14:00")) == 0
    friday_close = ist("2025-12-05 15:30")
    assert session_seconds_between(friday_close, friday_close) == 0
    assert session_seconds_between(ist("2025-12-02 10:00"), ist("2025-12-01 10:00")) == 0
    # A whole week Monday open to Friday close: five sessions of 375 minutes.
    week = session_seconds_between(ist("2025-12-01 09:15"), ist("2025-12-05 15:30"))
    assert week == 5 * 375 * 60
    # Across Christmas (Thursday): Wednesday 15:00 to Friday 09:45 = 30 + 30 minutes.
    assert session_seconds_between(ist("2025-12-24 15:00"), ist("2025-12-26 09:45")) == 3600


def test_a_saturday_order_without_as_of_is_market_closed_naming_the_next_open() -> None:
    with pytest.raises(MarketClosed) as refused:
        market_timing(None, ist("2025-12-06 11:00"), max_skew=SKEW, allow_off_hours=False)
    assert http_status(refused.value) == 422 and refused.value.type == "market_closed"
    assert refused.value.extra["next_open"] == "2025-12-08T09:15:00+05:30"
    assert "2025-12-08T09:15:00+05:30" in refused.value.detail


def test_allowed_off_hours_fill_at_the_last_close_and_are_recorded_now() -> None:
    now = ist("2025-12-06 11:00")
    timing = market_timing(None, now, max_skew=SKEW, allow_off_hours=True)
    assert timing.instant == ist("2025-12-05 15:30") and timing.recorded_at == now
    assert timing.off_hours and timing.mode is TradeMode.LIVE


def test_in_session_is_live_and_a_past_as_of_is_a_replay_at_any_hour() -> None:
    now = ist("2025-12-01 10:00")
    live = market_timing(None, now, max_skew=SKEW, allow_off_hours=False)
    assert (live.instant, live.mode, live.off_hours) == (now, TradeMode.LIVE, False)
    skewed = market_timing(now - timedelta(seconds=3), now, max_skew=SKEW, allow_off_hours=False)
    assert skewed.mode is TradeMode.LIVE
    saturday = ist("2025-12-06 11:00")
    past = ist("2025-12-01 10:00")
    replay = market_timing(past, saturday, max_skew=SKEW, allow_off_hours=False)
    assert (replay.instant, replay.recorded_at, replay.mode) == (past, past, TradeMode.REPLAY)
    with pytest.raises(InvalidInput, match="as_of"):
        market_timing(now + timedelta(minutes=1), now, max_skew=SKEW, allow_off_hours=False)


@pytest.mark.parametrize("replayed", ["2025-11-30 11:00", "2025-12-02 03:00", "2025-12-01 15:30"])
def test_a_replay_instant_outside_the_session_is_market_closed_like_a_live_one(
    replayed: str,
) -> None:
    """Sunday, 03:00 on a trading day, the close itself: no session, no fill at the old close."""
    now = ist("2025-12-06 11:00")
    with pytest.raises(MarketClosed) as refused:
        market_timing(ist(replayed), now, max_skew=SKEW, allow_off_hours=False)
    assert refused.value.type == "market_closed" and "replayed instant" in refused.value.detail
    allowed = market_timing(ist(replayed), now, max_skew=SKEW, allow_off_hours=True)
    assert allowed.off_hours and allowed.mode is TradeMode.REPLAY
    assert allowed.instant == last_session_close(ist(replayed))  # the close before it
    assert allowed.recorded_at == ist(replayed)


def test_a_declared_special_session_is_in_session_and_fills_at_now(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A session NSE announced outside the usual hours (an evening Muhurat session): orders at
    now inside it are live and in session; outside it the usual rules hold."""
    from optrade.settings import reset_all_settings

    monkeypatch.setenv("NSE_SPECIAL_SESSIONS", '["2025-12-07T18:00/19:00"]')  # a Sunday evening
    reset_all_settings()
    assert in_session(ist("2025-12-07 18:00:00")) and in_session(ist("2025-12-07 18:59:59"))
    assert not in_session(ist("2025-12-07 19:00:00"))
    assert not in_session(ist("2025-12-07 17:59:59"))
    now = ist("2025-12-07 18:30")
    timing = market_timing(None, now, max_skew=SKEW, allow_off_hours=False)
    assert (timing.instant, timing.mode, timing.off_hours) == (now, TradeMode.LIVE, False)
    # Market time counts the special session like any other: the evening adds its hour.
    assert session_seconds_between(ist("2025-12-07 17:00"), ist("2025-12-07 20:00")) == 3600


@pytest.mark.parametrize("entry", ["2025-12-07T19:00/18:00", "2025-12-07 18h", "18:00/19:00"])
def test_a_malformed_special_session_is_refused_naming_it(
    monkeypatch: pytest.MonkeyPatch, entry: str
) -> None:
    from optrade.calendar import CalendarSettings

    monkeypatch.setenv("NSE_SPECIAL_SESSIONS", f'["{entry}"]')
    with pytest.raises(ValueError, match="special_sessions"):
        CalendarSettings()


@pytest.mark.parametrize("moment", ["2025-10-21 14:00", "2025-02-01 10:00", "2026-02-01 15:00"])
def test_an_order_in_a_shipped_special_session_fills_live_at_now(moment: str) -> None:
    """Muhurat 21-Oct-2025 (13:45-14:45) and the Budget weekends of 2025 and 2026 are sessions."""
    now = ist(moment)
    timing = market_timing(None, now, max_skew=SKEW, allow_off_hours=False)
    assert (timing.instant, timing.mode, timing.off_hours) == (now, TradeMode.LIVE, False)


def test_after_friday_close_before_a_budget_saturday_the_next_open_is_saturday() -> None:
    with pytest.raises(MarketClosed) as refused:
        market_timing(None, ist("2025-01-31 16:00"), max_skew=SKEW, allow_off_hours=False)
    assert refused.value.extra["next_open"] == "2025-02-01T09:15:00+05:30"
    # outside the Muhurat hour on Diwali the market is closed, and opens for the Muhurat session
    with pytest.raises(MarketClosed) as diwali:
        market_timing(None, ist("2025-10-21 10:00"), max_skew=SKEW, allow_off_hours=False)
    assert diwali.value.extra["next_open"] == "2025-10-21T13:45:00+05:30"
