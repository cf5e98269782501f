"""Time constants of the Indian market and the one clock the code reads."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

IST_NAME = "Asia/Kolkata"
IST = ZoneInfo(IST_NAME)
MARKET_OPEN = time(9, 15)  # IST, regular session
MARKET_CLOSE = time(15, 30)  # IST, regular session; options expire at this time

# 22 500 s = 375 minutes of one regular session
SESSION_SECONDS = (
    datetime.combine(date.min, MARKET_CLOSE) - datetime.combine(date.min, MARKET_OPEN)
).total_seconds()

SECONDS_PER_DAY = 86_400
DAYS_PER_YEAR = 365  # calendar days: time to expiry and theta are ACT/365
SECONDS_PER_YEAR = DAYS_PER_YEAR * SECONDS_PER_DAY
TRADING_DAYS_PER_YEAR = 252  # NSE sessions a year: realised volatility and per-session theta


def utcnow() -> datetime:
    """Now, timezone-aware in UTC."""
    return datetime.now(UTC)
