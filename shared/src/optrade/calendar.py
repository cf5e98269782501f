"""NSE trading days from pandas_market_calendars' `XNSE`, with an override table in settings.

Special sessions (Muhurat trading, short DR drills) count as trading days for the quality checks but
not as regular sessions: an expiry falling on one moves to the previous regular session.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger(__name__)

IST = ZoneInfo("Asia/Kolkata")
MARKET_OPEN = time(9, 15)
MARKET_CLOSE = time(15, 30)
COVERAGE_WARNING_DAYS = 90


class CalendarSettings(BaseSettings):
    """Holidays the calendar library does not know yet, and sessions it wrongly closes."""

    model_config = SettingsConfigDict(env_prefix="NSE_", env_file=".env", extra="ignore")

    extra_holidays: list[date] = []
    extra_trading_days: list[date] = []


@lru_cache
def _settings() -> CalendarSettings:
    return CalendarSettings()


# A regular session opens by 10:00 IST and lasts at least four hours. That holds for every era
# of NSE hours the library knows (10:00-15:30 in the 1990s, 09:55 until 2010, 09:15 since) and
# excludes the one-hour Muhurat sessions and other short special sessions.
REGULAR_OPENS_BY = time(10, 0)
REGULAR_MIN_HOURS = 4.0
FIRST_CALENDAR_YEAR = 1995  # the library's NSE history starts in the mid-1990s


class OutsideCalendar(ValueError):
    """A date before the NSE calendar's history: no trading day can be named for it."""


@lru_cache
def _sessions(year: int) -> dict[date, bool]:
    """Trading dates of one year, each mapped to whether it is a regular session."""
    import pandas_market_calendars as mcal  # imported lazily: pandas is slow to import

    schedule = mcal.get_calendar("XNSE").schedule(f"{year}-01-01", f"{year}-12-31")
    sessions: dict[date, bool] = {}
    for day, opens, closes in zip(
        schedule.index, schedule["market_open"], schedule["market_close"], strict=True
    ):
        hours = (closes - opens).total_seconds() / 3600
        local_open = opens.tz_convert(IST).time()
        sessions[day.date()] = local_open <= REGULAR_OPENS_BY and hours >= REGULAR_MIN_HOURS
    return sessions


@lru_cache
def coverage_end() -> date:
    """Last date for which the library has real holiday data."""
    import pandas_market_calendars as mcal

    holidays = mcal.get_calendar("XNSE").holidays().holidays
    return date(max(holidays).astype("datetime64[D]").item().year, 12, 31)


def coverage_warning(today: date) -> str | None:
    end = coverage_end()
    if (end - today).days <= COVERAGE_WARNING_DAYS:
        return (
            f"the NSE holiday calendar ends on {end.isoformat()}: update pandas_market_calendars "
            "or set NSE_EXTRA_HOLIDAYS before then"
        )
    return None


def is_trading_day(day: date, *, regular_only: bool = False) -> bool:
    settings = _settings()
    if day in settings.extra_holidays:
        return False
    if day in settings.extra_trading_days:
        return True
    if day.year < FIRST_CALENDAR_YEAR:
        return False  # before the calendar's history: not known to be a trading day
    regular = _sessions(day.year).get(day)
    if regular is None:
        return False
    return regular or not regular_only


def previous_trading_day(day: date, *, regular_only: bool = True) -> date:
    """The latest trading day on or before `day` (OutsideCalendar before the calendar's history)."""
    asked = day
    while not is_trading_day(day, regular_only=regular_only):
        day -= timedelta(days=1)
        if day.year < FIRST_CALENDAR_YEAR:
            raise OutsideCalendar(
                f"no NSE trading day on or before {asked.isoformat()}: the calendar starts in "
                f"{FIRST_CALENDAR_YEAR}"
            )
    return day


def next_trading_day(day: date, *, regular_only: bool = False) -> date:
    """The earliest trading day on or after `day`."""
    while not is_trading_day(day, regular_only=regular_only):
        day += timedelta(days=1)
    return day


def trading_days(start: date, end: date) -> list[date]:
    """Every trading day in [start, end]."""
    days = []
    day = start
    while day <= end:
        if is_trading_day(day):
            days.append(day)
        day += timedelta(days=1)
    return days


def ist_date(moment: datetime) -> date:
    return moment.astimezone(IST).date()


def expiry_close(expiry: date) -> datetime:
    """The instant an option expires: 15:30 IST on its expiry date."""
    return datetime.combine(expiry, MARKET_CLOSE, tzinfo=IST)


def reset_calendar_cache() -> None:
    _settings.cache_clear()
