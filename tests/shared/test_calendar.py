"""The NSE calendar across eras of trading hours: regular sessions, special sessions, bounds."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from market_data_service.providers.simulated import SimulatedProvider
from optrade.calendar import (
    OutsideCalendar,
    is_trading_day,
    next_trading_day,
    previous_trading_day,
)


@pytest.mark.parametrize(
    "day",
    [
        date(1999, 3, 1),  # 09:55-15:30 era
        date(2001, 3, 5),
        date(2009, 6, 1),
        date(2010, 7, 1),  # 09:00 open, mid-2010
        date(2025, 12, 2),  # 09:15-15:30
    ],
)
def test_an_ordinary_weekday_is_a_regular_session_in_every_era(day: date) -> None:
    assert is_trading_day(day, regular_only=True)
    assert previous_trading_day(day) == day


@pytest.mark.parametrize(
    ("muhurat", "before"),
    [(date(2025, 10, 21), date(2025, 10, 20)), (date(2021, 11, 4), date(2021, 11, 3))],
)
def test_a_muhurat_session_trades_but_is_not_regular(muhurat: date, before: date) -> None:
    assert is_trading_day(muhurat) and not is_trading_day(muhurat, regular_only=True)
    assert previous_trading_day(muhurat, regular_only=True) == before


def test_holidays_and_weekends_are_skipped_both_ways() -> None:
    christmas = date(2025, 12, 25)  # Thursday, an NSE holiday
    assert not is_trading_day(christmas)
    assert previous_trading_day(christmas) == date(2025, 12, 24)
    assert next_trading_day(christmas) == date(2025, 12, 26)
    assert next_trading_day(date(2025, 12, 27)) == date(2025, 12, 29)  # Saturday -> Monday


def test_before_the_calendar_history_is_a_clear_error_not_an_endless_walk() -> None:
    with pytest.raises(OutsideCalendar, match="calendar starts in 1995"):
        previous_trading_day(date(1990, 1, 1))
    assert not is_trading_day(date(1994, 6, 1))


def test_the_simulated_market_serves_its_first_decade() -> None:
    """An as_of in 2001 once made the calendar walk to year 1 and raise OverflowError (a 500)."""
    provider = SimulatedProvider(seed=7)
    chain = provider.chain("NIFTY", None, datetime(2001, 3, 5, 5, 0, tzinfo=UTC))
    assert chain.as_of == datetime(2001, 3, 5, 5, 0, tzinfo=UTC)
    assert chain.rows and chain.spot > 0
