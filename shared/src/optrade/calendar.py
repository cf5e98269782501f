"""NSE trading days and sessions from the `holidays` library's `XNSE` calendar, corrected by a
shipped table (`nse_calendar.json`) and by the settings `NSE_EXTRA_HOLIDAYS`,
`NSE_EXTRA_TRADING_DAYS` and `NSE_SPECIAL_SESSIONS`.

A regular session is 09:15-15:30 IST on a regular trading day. Special sessions are the ones NSE
announces by circular outside that pattern (Muhurat trading, live sessions on a Budget weekend, the
disaster-recovery drills): `nse_calendar.json` lists each with its hours and source. A special
session's day is a trading day (orders, the quality checks, market time held) but not a regular
session: an expiry falling on one moves to the previous regular session. `sessions_on(day)` lists a
day's sessions, `session_at(moment)` finds the one an instant is in.

Holiday data for a year after the last NSE circular the library encodes (`confirmed_through`), and
Islamic holidays the library labels "(estimated)", are estimates: `is_estimated` says whether a
date depends on them.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Defined in optrade.domain; re-exported because every calendar caller needs them.
from optrade.domain import IST as IST
from optrade.domain import MARKET_CLOSE as MARKET_CLOSE
from optrade.domain import MARKET_OPEN as MARKET_OPEN
from optrade.settings import cached_settings

log = logging.getLogger(__name__)

COVERAGE_WARNING_DAYS = 90
FIRST_CALENDAR_YEAR = 2001  # the holidays library's NSE history starts in 2001
CORRECTIONS_FILE = Path(__file__).with_name("nse_calendar.json")
ESTIMATE_MARGIN = timedelta(days=1)  # a lunar holiday's estimated date may be a day off
MAX_SESSION_GAP_DAYS = 31  # the longest NSE closure is a few days; a month means a broken table
REGULAR = "regular"
DECLARED = "declared"  # an NSE_SPECIAL_SESSIONS entry


class CalendarSettings(BaseSettings):
    """Holidays the calendar library does not know yet, and sessions it wrongly closes."""

    model_config = SettingsConfigDict(env_prefix="NSE_", env_file=".env", extra="ignore")

    extra_holidays: list[date] = []
    extra_trading_days: list[date] = []
    # Sessions NSE announces outside 09:15-15:30 (Muhurat trading, a special Saturday session):
    # "YYYY-MM-DDTHH:MM/HH:MM" in IST, e.g. ["2026-11-08T18:00/19:00"].
    special_sessions: list[str] = []

    @field_validator("special_sessions")
    @classmethod
    def _parse_sessions(cls, value: list[str]) -> list[str]:
        for text in value:
            special_session_bounds(text)  # raises ValueError naming the entry
        return value


def special_session_bounds(text: str) -> tuple[datetime, datetime]:
    """The IST start and end of one `NSE_SPECIAL_SESSIONS` entry ("2026-11-08T18:00/19:00")."""
    try:
        start_text, end_text = text.split("/")
        start = datetime.fromisoformat(start_text).replace(tzinfo=IST)
        end = datetime.combine(start.date(), time.fromisoformat(end_text), tzinfo=IST)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not YYYY-MM-DDTHH:MM/HH:MM (IST)") from exc
    if end <= start:
        raise ValueError(f"{text!r}: the session must end after it starts")
    return start, end


def _declared_sessions() -> list[tuple[datetime, datetime]]:
    return [special_session_bounds(text) for text in _settings().special_sessions]


@cached_settings
def _settings() -> CalendarSettings:
    return CalendarSettings()


@dataclass(frozen=True)
class SpecialSession:
    """A session NSE announced outside the regular pattern, as `nse_calendar.json` lists it."""

    day: date
    kind: str  # "muhurat", "budget", "special" (a live session such as a DR drill)
    hours: tuple[time, time] | None  # IST; None: NSE held it, the table has no sourced hours
    source: str


@dataclass(frozen=True)
class Session:
    """One trading session, [open, close) in IST; `kind` is "regular" or the special kind."""

    open: datetime
    close: datetime
    kind: str

    def __contains__(self, moment: datetime) -> bool:
        return self.open <= moment < self.close

    @property
    def seconds(self) -> float:
        return (self.close - self.open).total_seconds()


@dataclass(frozen=True)
class Corrections:
    """What the library gets wrong or leaves out, and the last year it has from NSE itself."""

    confirmed_through: int
    closures: frozenset[date]
    open_days: frozenset[date]
    special_sessions: dict[date, tuple[SpecialSession, ...]]


def _special_session(raw: dict[str, str | None]) -> SpecialSession:
    opens, closes = raw.get("open"), raw.get("close")
    hours = (time.fromisoformat(opens), time.fromisoformat(closes)) if opens and closes else None
    return SpecialSession(
        date.fromisoformat(str(raw["date"])), str(raw["kind"]), hours, str(raw.get("source", ""))
    )


@cached_settings
def corrections() -> Corrections:
    raw = json.loads(CORRECTIONS_FILE.read_text())

    def dates(key: str) -> frozenset[date]:
        return frozenset(date.fromisoformat(d) for d in raw[key])

    specials: dict[date, tuple[SpecialSession, ...]] = {}
    for entry in raw["special_sessions"]:
        session = _special_session(entry)
        specials[session.day] = (*specials.get(session.day, ()), session)
    return Corrections(
        confirmed_through=int(raw["confirmed_through"]),
        closures=dates("closures"),
        open_days=dates("open_days"),
        special_sessions=specials,
    )


class OutsideCalendar(ValueError):
    """A date before the NSE calendar's history: no trading day can be named for it."""


@lru_cache(maxsize=256)
def _holidays(year: int) -> dict[date, str]:
    """The library's NSE holidays of one year, by date, with their names."""
    import holidays  # imported lazily: it loads every country's module tree on first use

    return dict(holidays.financial_holidays("XNSE", years=year).items())


def coverage_end() -> date:
    """Last date for which the holiday data comes from NSE's own circular."""
    return date(corrections().confirmed_through, 12, 31)


def coverage_warning(today: date) -> str | None:
    end = coverage_end()
    if (end - today).days <= COVERAGE_WARNING_DAYS:
        return (
            f"the NSE holiday calendar is confirmed only to {end.isoformat()}: update the holidays "
            "library (and confirmed_through in nse_calendar.json) or set NSE_EXTRA_HOLIDAYS"
        )
    return None


def is_estimated(day: date) -> bool:
    """Whether `day`'s trading status rests on estimated holiday data (not an NSE circular)."""
    settings = _settings()
    if day in settings.extra_holidays or day in settings.extra_trading_days:
        return False  # the operator entered what NSE announced
    if day.year > corrections().confirmed_through:
        return True
    for near in (day - ESTIMATE_MARGIN, day, day + ESTIMATE_MARGIN):
        if "(estimated)" in _holidays(near.year).get(near, ""):
            return True
    return False


def is_trading_day(day: date, *, regular_only: bool = False) -> bool:
    settings = _settings()
    if day in settings.extra_holidays:
        return False
    if day in settings.extra_trading_days:
        return True
    if day.year < FIRST_CALENDAR_YEAR:
        return False  # before the calendar's history: not known to be a trading day
    fixes = corrections()
    if day in fixes.special_sessions:
        return not regular_only  # NSE's special day: traded, never a regular session
    if day in fixes.closures:
        regular = False
    elif day in fixes.open_days:
        regular = True
    else:
        regular = day.weekday() < 5 and day not in _holidays(day.year)
    if regular or regular_only:
        return regular
    return any(start.astimezone(IST).date() == day for start, _ in _declared_sessions())


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


def sessions_on(day: date) -> tuple[Session, ...]:
    """The sessions held on `day`, in order: the regular one, or the special ones with hours."""
    found: list[Session] = []
    if is_trading_day(day, regular_only=True):
        found.append(Session(_at(day, MARKET_OPEN), _at(day, MARKET_CLOSE), REGULAR))
    elif day not in _settings().extra_holidays and day.year >= FIRST_CALENDAR_YEAR:
        for special in corrections().special_sessions.get(day, ()):
            if special.hours is not None:
                opens, closes = special.hours
                found.append(Session(_at(day, opens), _at(day, closes), special.kind))
    for start, end in _declared_sessions():
        if start.date() == day:
            found.append(Session(start, end, DECLARED))
    return tuple(sorted(found, key=lambda s: s.open))


def session_at(moment: datetime) -> Session | None:
    """The session `moment` falls in, if any."""
    for session in sessions_on(moment.astimezone(IST).date()):
        if moment in session:
            return session
    return None


def in_session(moment: datetime) -> bool:
    """Whether `moment` lies in a session: 09:15-15:30 IST on a regular trading day, or a
    special session (Muhurat, a Budget weekend, an `NSE_SPECIAL_SESSIONS` entry) in its hours."""
    return session_at(moment) is not None


def next_session_open(moment: datetime) -> datetime:
    """The open of the first session (regular or special) starting after `moment`."""
    day = moment.astimezone(IST).date()
    for _ in range(MAX_SESSION_GAP_DAYS):
        for session in sessions_on(day):
            if session.open > moment:
                return session.open
        day += timedelta(days=1)
    raise OutsideCalendar(f"no NSE session within {MAX_SESSION_GAP_DAYS} days of {moment}")


def session_seconds_between(start: datetime, end: datetime) -> float:
    """Seconds of every session (regular and special) in [start, end]; 0 unless end > start."""
    if end <= start:
        return 0.0
    total = 0.0
    day = start.astimezone(IST).date()
    last = end.astimezone(IST).date()
    while day <= last:
        for session in sessions_on(day):
            overlap = min(end, session.close) - max(start, session.open)
            total += max(overlap.total_seconds(), 0.0)
        day += timedelta(days=1)
    return total


def _at(day: date, clock: time) -> datetime:
    return datetime.combine(day, clock, tzinfo=IST)


def ist_date(moment: datetime) -> date:
    return moment.astimezone(IST).date()


def expiry_close(expiry: date) -> datetime:
    """The instant an option expires: 15:30 IST on its expiry date."""
    return datetime.combine(expiry, MARKET_CLOSE, tzinfo=IST)
