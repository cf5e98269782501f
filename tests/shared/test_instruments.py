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


@pytest.mark.parametrize(
    ("underlying", "expiry", "lot"),
    [
        # NIFTY before 2015: 50, then 25 from the Nov-2014 monthly, 75 from the Nov-2015 monthly.
        ("NIFTY", date(2014, 10, 30), 50),
        ("NIFTY", date(2014, 11, 27), 25),
        ("NIFTY", date(2015, 10, 29), 25),
        ("NIFTY", date(2015, 11, 26), 75),
        # Jul-2021: the weeklies of 1/8/15/22-Jul stay 75; the July monthly and August weeklies 50.
        ("NIFTY", date(2021, 7, 1), 75),
        ("NIFTY", date(2021, 7, 22), 75),
        ("NIFTY", date(2021, 7, 29), 50),
        ("NIFTY", date(2021, 8, 5), 50),
        # Apr-2024: 25 from the 02-May weekly and the 30-May monthly.
        ("NIFTY", date(2024, 4, 25), 50),
        ("NIFTY", date(2024, 5, 2), 25),
        # Listed before 20-Nov-2024: 25 to expiry (Dec weeklies, the Dec and Jan monthlies);
        # the first 75 weekly is in Jan-2025, the first 75 monthly is Feb-2025.
        ("NIFTY", date(2024, 12, 19), 25),
        ("NIFTY", date(2024, 12, 26), 25),
        ("NIFTY", date(2025, 1, 2), 75),
        ("NIFTY", date(2025, 1, 23), 75),
        ("NIFTY", date(2025, 1, 30), 25),
        ("NIFTY", date(2025, 2, 27), 75),
        # Jan-2026: the 23-Dec weekly is the last at 75, 06-Jan the first at 65.
        ("NIFTY", date(2025, 12, 23), 75),
        ("NIFTY", date(2026, 1, 6), 65),
        # BANKNIFTY: the Jul-2020 weeklies were 20, the Jul-2023 weeklies 25.
        ("BANKNIFTY", date(2020, 7, 23), 20),
        ("BANKNIFTY", date(2020, 7, 30), 25),
        ("BANKNIFTY", date(2023, 7, 6), 25),
        ("BANKNIFTY", date(2023, 7, 20), 25),
        ("BANKNIFTY", date(2023, 7, 27), 15),
        ("BANKNIFTY", date(2025, 1, 30), 15),
        ("BANKNIFTY", date(2025, 2, 27), 30),
        ("BANKNIFTY", date(2025, 6, 26), 30),
        ("BANKNIFTY", date(2025, 7, 31), 35),
        # FINNIFTY: 40 -> 25 from the Jul-2024 monthly, 25 through the Jan-2025 monthly, then 65.
        ("FINNIFTY", date(2024, 7, 23), 40),
        ("FINNIFTY", date(2024, 7, 30), 25),
        ("FINNIFTY", date(2024, 8, 6), 25),
        ("FINNIFTY", date(2025, 1, 30), 25),
        ("FINNIFTY", date(2025, 2, 27), 65),
    ],
)
def test_lot_size_in_every_era_follows_the_first_expiry_of_each_contract_cycle(
    underlying: str, expiry: date, lot: int
) -> None:
    assert get_instruments()[underlying].lot_size_for(expiry) == lot


def test_a_contract_cycle_can_be_named_instead_of_derived_from_the_calendar() -> None:
    nifty = get_instruments()["NIFTY"]
    # 30-Jan-2025 is the January monthly (listed before 20-Nov-2024): 25. Asked as a weekly
    # (a weekly expiring that day would have been listed after the revision): 75.
    assert nifty.is_monthly_expiry(date(2025, 1, 30)) and not nifty.is_monthly_expiry(
        date(2025, 1, 23)
    )
    assert nifty.lot_size_for(date(2025, 1, 30), monthly=False) == 75


def test_banknifty_monthlies_stayed_on_the_last_thursday_until_march_2024() -> None:
    monthlies = [
        c.expiry
        for c in get_instruments()["BANKNIFTY"].expiries_between(
            date(2023, 9, 1), date(2024, 4, 30)
        )
        if c.monthly
    ]
    assert monthlies == [
        date(2023, 9, 28), date(2023, 10, 26), date(2023, 11, 30), date(2023, 12, 28),
        date(2024, 1, 25), date(2024, 2, 29),
        date(2024, 3, 27), date(2024, 4, 24),  # the first Wednesday monthlies
    ]  # fmt: skip


def test_banknifty_wednesday_weeklies_skip_the_week_of_a_thursday_monthly() -> None:
    september = _expiries("BANKNIFTY", date(2023, 9, 1), date(2023, 9, 30))
    assert september == [date(2023, 9, 6), date(2023, 9, 13), date(2023, 9, 20), date(2023, 9, 28)]
