"""The NSE session (09:15-15:30 IST on a trading day) and market time between two instants
(`session_seconds_between`, in `optrade.calendar` so the shared export counts it too).

Market time is what an option lives through: trading-session seconds. A position opened on
Saturday and closed on Sunday held zero market time, one held from Friday 15:00 to Monday 09:45
held one hour (30 minutes each side of the weekend).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from optrade.calendar import (
    in_special_session,
    is_trading_day,
    next_trading_day,
    previous_trading_day,
)
from optrade.calendar import session_seconds_between as session_seconds_between
from optrade.domain import IST, MARKET_CLOSE, MARKET_OPEN, TradeMode
from optrade.errors import DomainError, InvalidInput


class MarketClosed(DomainError):
    """An order or close outside the session, with no `as_of`, where off-hours are not allowed."""

    status_code = 422
    type = "market_closed"


def _open(day: date) -> datetime:
    return datetime.combine(day, MARKET_OPEN, tzinfo=IST)


def _close(day: date) -> datetime:
    return datetime.combine(day, MARKET_CLOSE, tzinfo=IST)


def in_session(moment: datetime) -> bool:
    """Whether `moment` lies in a regular NSE session, [09:15, 15:30) IST on a trading day, or
    in a special session the operator declared (`NSE_SPECIAL_SESSIONS`, e.g. Muhurat trading)."""
    local = moment.astimezone(IST)
    regular = is_trading_day(local.date(), regular_only=True) and (
        MARKET_OPEN <= local.time() < MARKET_CLOSE
    )
    return regular or in_special_session(moment)


def next_session_open(moment: datetime) -> datetime:
    """The open of the first regular session starting after `moment`."""
    local = moment.astimezone(IST)
    day = local.date()
    if local.time() >= MARKET_OPEN or not is_trading_day(day, regular_only=True):
        day = next_trading_day(day + timedelta(days=1), regular_only=True)
    return _open(day)


def last_session_close(moment: datetime) -> datetime:
    """The close of the last regular session that ended at or before `moment`."""
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
            f"the NSE session (09:15-15:30 IST on a trading day) is closed at "
            f"{at.astimezone(IST).isoformat()} ({what}); it next opens at {opens.isoformat()}",
            extra={"next_open": opens.isoformat()},
        )
    # Filled from the last closing quote, recorded when it happened: a Saturday close belongs to
    # the next session's quality window, and its market time held is counted from the quotes.
    return MarketTiming(last_session_close(at).astimezone(UTC), at, mode, off_hours=True)
