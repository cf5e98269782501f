"""When market data is fresh enough for the instant asked for (quotes and chains alike)."""

from __future__ import annotations

from datetime import datetime, timedelta

from optrade.calendar import is_trading_day, previous_trading_day
from optrade.domain import IST, MARKET_CLOSE, MARKET_OPEN

STALE = "stale"  # the word that starts every "too old" problem: no data, not a dead provider


def latest_market_instant(instant: datetime) -> datetime:
    """The last moment at or before `instant` when the market was open: `instant` itself within a
    session, else 15:30 IST of the last regular session (a quote's age is measured from here, so
    an order at night or on a holiday takes the closing quote without calling it stale)."""
    local = instant.astimezone(IST)
    day = local.date()
    if is_trading_day(day, regular_only=True) and local.time() >= MARKET_OPEN:
        if local.time() <= MARKET_CLOSE:
            return instant
    else:
        day = previous_trading_day(day - timedelta(days=1))
    return datetime.combine(day, MARKET_CLOSE, tzinfo=IST)


def instant_problem(
    what: str, served: datetime, asked: datetime, max_age: timedelta, max_skew: timedelta
) -> str | None:
    """Why data of market time `served` cannot stand for `asked` (None when it can)."""
    if served.tzinfo is None:
        return f"{what} as_of has no time zone"
    if served < latest_market_instant(asked) - max_age:
        return f"{STALE} {what}: as_of {served.isoformat()} for {asked.isoformat()}"
    if served > asked + max_skew:
        return f"{what} from the future: as_of {served.isoformat()}"
    return None
