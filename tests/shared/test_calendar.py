"""The NSE calendar: the holidays library's XNSE, the shipped corrections, overrides, estimates."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest

from market_data_service.providers.simulated import SimulatedProvider
from optrade.calendar import (
    CORRECTIONS_FILE,
    IST,
    OutsideCalendar,
    coverage_warning,
    in_session,
    is_estimated,
    is_trading_day,
    next_session_open,
    next_trading_day,
    previous_trading_day,
    session_at,
    session_seconds_between,
    sessions_on,
)
from optrade.settings import reset_all_settings


@pytest.fixture(autouse=True)
def _fresh_calendar_settings() -> Iterator[None]:
    reset_all_settings()
    yield
    reset_all_settings()


@pytest.mark.parametrize(
    "day",
    [
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
    with pytest.raises(OutsideCalendar, match="calendar starts in 2001"):
        previous_trading_day(date(1990, 1, 1))
    assert not is_trading_day(date(1999, 6, 1))


def test_the_simulated_market_serves_its_first_decade() -> None:
    """An as_of in 2001 once made the calendar walk to year 1 and raise OverflowError (a 500)."""
    provider = SimulatedProvider(seed=7)
    chain = provider.chain("NIFTY", None, datetime(2001, 3, 5, 5, 0, tzinfo=UTC))
    assert chain.as_of == datetime(2001, 3, 5, 5, 0, tzinfo=UTC)
    assert chain.rows and chain.spot > 0


def test_republic_day_2027_is_a_holiday_from_the_library_and_marked_estimated() -> None:
    # pandas_market_calendars stopped at 2026; the holidays library estimates 2027.
    assert not is_trading_day(date(2027, 1, 26))
    assert previous_trading_day(date(2027, 1, 26)) == date(2027, 1, 25)
    assert is_estimated(date(2027, 1, 26)) and is_estimated(date(2027, 1, 25))
    assert not is_estimated(date(2026, 1, 26)) and not is_estimated(date(2025, 12, 2))


def test_a_lunar_holiday_the_library_estimates_marks_its_neighbours_estimated() -> None:
    # Bakri Id 2026 is "(estimated)" in the library: 27-29 May depend on the moon.
    assert not is_trading_day(date(2026, 5, 28))
    assert is_estimated(date(2026, 5, 27)) and is_estimated(date(2026, 5, 29))
    assert not is_estimated(date(2026, 5, 26))


@pytest.mark.parametrize(
    "closed",
    [date(2024, 5, 20), date(2024, 11, 20), date(2019, 10, 21), date(2026, 1, 15)],
)
def test_one_off_closures_the_library_lacks_are_corrected(closed: date) -> None:
    """Election days and other NSE closures outside the library, from the shipped table."""
    assert closed.weekday() < 5 and not is_trading_day(closed)


def test_a_moved_holiday_is_corrected() -> None:
    # NSE moved Bakri Id 2023 from 28 to 29 June; the library still has the 28th.
    assert is_trading_day(date(2023, 6, 28), regular_only=True)
    assert not is_trading_day(date(2023, 6, 29))


def test_settings_override_the_library_and_confirm_an_estimate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NSE_EXTRA_HOLIDAYS", '["2027-02-23"]')
    monkeypatch.setenv("NSE_EXTRA_TRADING_DAYS", '["2027-01-26"]')
    reset_all_settings()
    assert not is_trading_day(date(2027, 2, 23)) and not is_estimated(date(2027, 2, 23))
    assert is_trading_day(date(2027, 1, 26)) and not is_estimated(date(2027, 1, 26))


def test_the_coverage_warning_names_the_last_confirmed_year() -> None:
    assert coverage_warning(date(2026, 6, 1)) is None
    warning = coverage_warning(date(2026, 12, 1))
    assert warning is not None and "2026-12-31" in warning and "NSE_EXTRA_HOLIDAYS" in warning


def ist(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=IST)


def test_an_instant_inside_the_2025_muhurat_session_is_in_session() -> None:
    """NSE's circular of 22-Sep-2025: Muhurat trading on 21-Oct-2025, 13:45-14:45 IST."""
    assert in_session(ist("2025-10-21 13:45:00")) and in_session(ist("2025-10-21 14:44:59"))
    assert not in_session(ist("2025-10-21 13:44:59")) and not in_session(ist("2025-10-21 14:45"))
    assert not in_session(ist("2025-10-21 10:00"))  # Diwali: no regular session
    found = session_at(ist("2025-10-21 14:00"))
    assert found is not None and found.kind == "muhurat"


@pytest.mark.parametrize(
    ("day", "moment"),
    [
        (date(2025, 2, 1), "2025-02-01 10:00"),  # Saturday, Union Budget 2025-26
        (date(2026, 2, 1), "2026-02-01 15:29"),  # Sunday, Union Budget 2026-27
        (date(2024, 1, 20), "2024-01-20 13:00"),  # Saturday, full live session
        (date(2020, 2, 1), "2020-02-01 09:15"),  # Saturday, Union Budget 2020-21
        (date(2023, 11, 12), "2023-11-12 18:30"),  # Sunday, Muhurat
    ],
)
def test_a_weekend_special_session_is_a_trading_day_with_its_hours(day: date, moment: str) -> None:
    assert day.weekday() >= 5
    assert is_trading_day(day) and not is_trading_day(day, regular_only=True)
    assert in_session(ist(moment))
    # An expiry never moves onto it: the previous regular session is the Friday before.
    assert previous_trading_day(day).weekday() == 4


def test_a_budget_saturday_is_the_next_session_after_friday_close() -> None:
    assert next_session_open(ist("2025-01-31 16:00")) == ist("2025-02-01 09:15")
    assert next_session_open(ist("2025-02-01 15:30")) == ist("2025-02-03 09:15")


def test_market_time_counts_special_sessions_by_their_hours() -> None:
    # Monday 20-Oct-2025 15:00 to Thursday 23-Oct 09:45 (22-Oct Balipratipada is a holiday):
    # 30 minutes on Monday, the Muhurat hour on Tuesday, 30 minutes on Thursday.
    assert session_seconds_between(ist("2025-10-20 15:00"), ist("2025-10-23 09:45")) == 7200
    # The Budget Saturday counts a whole regular session (375 minutes).
    whole = session_seconds_between(ist("2025-02-01 00:00"), ist("2025-02-02 00:00"))
    assert whole == 375 * 60
    # 02-Mar-2024, the DR drill: 09:15-10:00 and 11:30-12:30.
    assert [(s.open.time().isoformat(), s.close.time().isoformat())
            for s in sessions_on(date(2024, 3, 2))] == [("09:15:00", "10:00:00"),
                                                         ("11:30:00", "12:30:00")]  # fmt: skip
    drill = session_seconds_between(ist("2024-03-02 09:00"), ist("2024-03-02 13:00"))
    assert drill == timedelta(minutes=105).total_seconds()
    assert not in_session(ist("2024-03-02 11:00"))


def test_a_muhurat_day_without_sourced_hours_trades_but_has_no_session_instant() -> None:
    day = date(2012, 11, 13)
    assert is_trading_day(day) and not is_trading_day(day, regular_only=True)
    assert sessions_on(day) == ()


def test_every_special_session_row_names_its_source_and_sensible_hours() -> None:
    rows = json.loads(CORRECTIONS_FILE.read_text())["special_sessions"]
    assert {row["kind"] for row in rows} == {"muhurat", "budget", "special"}
    for row in rows:
        assert len(row["source"]) > 20, row
        if row["open"] is not None:
            assert row["open"] < row["close"], row
