"""When the daily run is due, what it covers, and when it is overdue (all in IST)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from optrade.calendar import IST, next_trading_day, previous_trading_day
from optrade.domain import TradeMode, TradeWindow

DAILY_RUN_AT = time(15, 45)  # IST, after the 15:30 close
OVERDUE_AFTER = time(16, 30)  # IST: no scheduled run stored by then on a trading day = overdue

# A beat message may reach a worker whose clock is a little behind beat's: count a slot as
# reached this long before 15:45, so the 15:45 run never picks the previous day.
SLOT_GRACE = timedelta(minutes=10)


def day_start(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=IST).astimezone(UTC)


def session_window(day: date, mode: str | None = TradeMode.LIVE) -> TradeWindow:
    """Trading date `day`'s session: closes from the previous trading day's check time (15:45
    IST) to `day`'s, so weekend, holiday and after-15:45 closes fall in the next session's run."""
    before = previous_trading_day(day - timedelta(days=1), regular_only=False)
    start = at_ist(before, DAILY_RUN_AT).astimezone(UTC)
    return TradeWindow(start=start, end=at_ist(day, DAILY_RUN_AT).astimezone(UTC), mode=mode)


def session_label(day: date) -> str:
    return f"session {day.isoformat()}"


def lookback_window(
    now: datetime, lookback_days: int, mode: str | None = TradeMode.LIVE
) -> TradeWindow:
    """Today in IST (lookback 1) or the last N IST calendar days up to the end of today."""
    today = now.astimezone(IST).date()
    first = today - timedelta(days=lookback_days - 1)
    return TradeWindow(start=day_start(first), end=day_start(today + timedelta(days=1)), mode=mode)


def lookback_label(lookback_days: int) -> str:
    return "today" if lookback_days == 1 else f"the last {lookback_days} days"


def at_ist(day: date, moment: time) -> datetime:
    return datetime.combine(day, moment, tzinfo=IST)


def slot_date(now: datetime) -> date:
    """Date of the latest Mon-Fri 15:45 IST cron slot reached by `now` (holidays included)."""
    local = (now + SLOT_GRACE).astimezone(IST)
    day = local.date() if local.time() >= DAILY_RUN_AT else local.date() - timedelta(days=1)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


def latest_due_trading_date(now: datetime, *, at: time = DAILY_RUN_AT) -> date:
    """The latest NSE trading date whose `at` (IST) has passed by `now`."""
    local = now.astimezone(IST)
    day = local.date() if local.time() >= at else local.date() - timedelta(days=1)
    return previous_trading_day(day, regular_only=False)


def next_scheduled_run(now: datetime) -> datetime:
    """The next 15:45 IST on a trading day strictly after `now`."""
    local = now.astimezone(IST)
    day = local.date() if local.time() < DAILY_RUN_AT else local.date() + timedelta(days=1)
    return at_ist(next_trading_day(day), DAILY_RUN_AT)


def overdue_candidate(now: datetime) -> date:
    """The trading date whose scheduled run must be stored by now (its 16:30 IST has passed)."""
    return latest_due_trading_date(now, at=OVERDUE_AFTER)
