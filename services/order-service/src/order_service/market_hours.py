"""The NSE session and market time between two instants, from `optrade.calendar`.

A session is 09:15-15:30 IST on a regular trading day, or a special session NSE announced (Muhurat
trading, a Budget weekend, a declared `NSE_SPECIAL_SESSIONS` entry) within its hours. Market time
is what an option lives through: session seconds. A position opened on Saturday and closed on
Sunday held zero market time, one held from Friday 15:00 to Monday 09:45 held one hour (30 minutes
each side of the weekend), one held over a Muhurat evening also held that session's hour.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from optrade.calendar import (
    in_session,
    is_trading_day,
    next_session_open,
    previous_trading_day,
    session_seconds_between,
)
from optrade.domain import IST, MARKET_CLOSE, TradeMode
from optrade.errors import InvalidInput, Refused


class MarketClosed(Refused):
    """An order or close outside the session, with no `as_of`, where off-hours are not allowed."""

    type = "market_closed"


def _close(day: date) -> datetime:
    return datetime.combine(day, MARKET_CLOSE, tzinfo=IST)


def last_session_close(moment: datetime) -> datetime:
    """The close of the last regular session that ended at or before `moment` (the providers serve
    that close's quotes outside the regular session, special sessions included)."""
    local = moment.astimezone(IST)
    day = local.date()
    if local.time() < MARKET_CLOSE or not is_trading_day(day, regular_only=True):
        day = previous_trading_day(day - timedelta(days=1), regular_only=True)
    return _close(day)


@dataclass(frozen=True)
class MarketTiming:
    """When an order or close fills, and how it is marked."""

    instant: datetime  # the market instant whose quote fills it
    recorded_at: datetime  # opened_at / closed_at: the instant itself, or now when off-hours
    mode: TradeMode
    off_hours: bool

    def marks(self) -> dict[str, Any]:
        return {"mode": self.mode.value, "off_hours": self.off_hours}


def market_instant(requested: datetime | None, now: datetime, max_skew: timedelta) -> datetime:
    """The client's `as_of` (refused when later than now + skew) or now."""
    if requested is not None and requested > now + max_skew:
        raise InvalidInput("as_of", f"{requested.isoformat()} is in the future")
    return requested or now


def market_timing(
    requested: datetime | None, now: datetime, *, max_skew: timedelta, allow_off_hours: bool
) -> MarketTiming:
    """The fill instant and marks: `as_of` in the past is a replay, now is live; either instant
    must be in a session, or (when allowed) fills off-hours from the last session's closing
    quote before it, as a live order at that instant would."""
    market_instant(requested, now, max_skew)
    replay = requested is not None and requested < now - max_skew
    mode = TradeMode.REPLAY if replay else TradeMode.LIVE
    at = requested or now
    if in_session(at):
        return MarketTiming(at, at, mode, off_hours=False)
    if not allow_off_hours:
        opens = next_session_open(at)
        what = "the replayed instant" if replay else "now"
        raise MarketClosed(
            f"the NSE session (09:15-15:30 IST on a trading day, or a special session) is "
            f"closed at {at.astimezone(IST).isoformat()} ({what}); it next opens at "
            f"{opens.isoformat()}",
            extra={"next_open": opens.isoformat()},
        )
    # Filled from the last closing quote, recorded when it happened: a Saturday close belongs to
    # the next session's quality window, and its market time held is counted from the quotes.
    return MarketTiming(last_session_close(at).astimezone(UTC), at, mode, off_hours=True)


@dataclass(frozen=True)
class MarketClock:
    """Turns a request's `as_of` into when it fills and how it is marked: never in the future;
    a past `as_of` is a replay; no `as_of` must fall in the NSE session (or, where allowed,
    fills off-hours from the last close)."""

    now: datetime
    max_skew: timedelta
    allow_off_hours: bool

    def instant(self, requested: datetime | None) -> datetime:
        """The client's `as_of` (never in the future) or now, whatever the session."""
        return market_instant(requested, self.now, self.max_skew)

    def timing(self, requested: datetime | None) -> MarketTiming:
        return market_timing(
            requested, self.now, max_skew=self.max_skew, allow_off_hours=self.allow_off_hours
        )


__all__ = [
    "MarketClock",
    "MarketClosed",
    "MarketTiming",
    "in_session",
    "last_session_close",
    "market_instant",
    "market_timing",
    "next_session_open",
    "session_seconds_between",
]
