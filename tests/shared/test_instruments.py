"""The contract calendar as data: lot size by (underlying, expiry), expiry weekday by era."""

from __future__ import annotations

from datetime import date

import pytest

from optrade.instruments import get_instruments


def _expiries(underlying: str, start: date, end: date) -> list[date]:
    return [c.expiry for c in get_instruments()[underlying].expiries_between(start, end)]


@pytest.mark.parametrize(
    ("underlying", "expiry", "lot"),
    [
        ("NIFTY", date(2019, 9, 12), 75),  # the 2019 replay
        ("NIFTY", date(2025, 12, 30), 75),  # the README: Dec-2025 contracts stayed at 75
        ("NIFTY", date(2026, 1, 27), 65),
        ("BANKNIFTY", date(2025, 12, 30), 35),
        ("BANKNIFTY", date(2026, 1, 27), 30),
        ("FINNIFTY", date(2025, 12, 30), 65),
        ("FINNIFTY", date(2026, 1, 27), 60),
        ("FINNIFTY", date(2026, 12, 29), 60),
    ],
)
def test_lot_size_by_underlying_and_expiry(underlying: str, expiry: date, lot: int) -> None:
    assert get_instruments()[underlying].lot_size_for(expiry) == lot


def test_nifty_expired_on_thursdays_until_august_2025_and_on_tuesdays_after() -> None:
    august = _expiries("NIFTY", date(2025, 8, 1), date(2025, 8, 31))
    assert august == [date(2025, 8, 7), date(2025, 8, 14), date(2025, 8, 21), date(2025, 8, 28)]
    september = _expiries("NIFTY", date(2025, 9, 1), date(2025, 9, 30))
    assert september == [date(2025, 9, 2), date(2025, 9, 9), date(2025, 9, 16),
                         date(2025, 9, 23), date(2025, 9, 30)]  # fmt: skip


def test_the_2019_weekly_thursday_is_an_expiry() -> None:
    nifty = get_instruments()["NIFTY"]
    assert nifty.is_expiry(date(2019, 9, 12))
    assert not nifty.is_expiry(date(2019, 9, 10)) and not nifty.is_expiry(date(2019, 9, 11))
    assert date(2019, 9, 26) in _expiries("NIFTY", date(2019, 9, 1), date(2019, 9, 30))


def test_since_20_nov_2024_only_nifty_lists_weeklies() -> None:
    for name in ("BANKNIFTY", "FINNIFTY"):
        assert len(_expiries(name, date(2024, 11, 21), date(2025, 1, 31))) == 3, name
    assert len(_expiries("NIFTY", date(2024, 11, 21), date(2025, 1, 31))) >= 10


def test_banknifty_and_finnifty_monthlies_move_to_thursday_in_2025_then_tuesday() -> None:
    for name in ("BANKNIFTY", "FINNIFTY"):
        assert _expiries(name, date(2025, 1, 1), date(2025, 1, 31)) == [date(2025, 1, 30)]
        assert _expiries(name, date(2025, 8, 1), date(2025, 8, 31)) == [date(2025, 8, 28)]
        assert _expiries(name, date(2025, 9, 1), date(2025, 9, 30)) == [date(2025, 9, 30)]


def test_a_holiday_expiry_moves_to_the_previous_trading_day() -> None:
    nifty = get_instruments()["NIFTY"]
    # Tuesday 21-Oct-2025 was Diwali: that weekly expired on Monday 20-Oct (the README).
    assert nifty.is_expiry(date(2025, 10, 20)) and not nifty.is_expiry(date(2025, 10, 21))
    # Tuesday 26-Jan-2027 is Republic Day: the January 2027 monthly is Monday 25-Jan, estimated.
    (january,) = [c for c in nifty.expiries_between(date(2027, 1, 20), date(2027, 1, 31))
                  if c.monthly]  # fmt: skip
    assert (january.expiry, january.nominal, january.estimated) == (
        date(2027, 1, 25), date(2027, 1, 26), True
    )  # fmt: skip
    (december,) = [c for c in nifty.expiries_between(date(2026, 12, 28), date(2026, 12, 31))]
    assert december.expiry == date(2026, 12, 29) and not december.estimated
