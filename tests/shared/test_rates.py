"""The risk-free rate at an instant: RBI's 91-day T-bill cut-off yields, hand-looked-up rows."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

import pytest

from optrade.calendar import IST
from optrade.rates import rate_at, rate_table


def continuous(yield_percent: float) -> float:
    """365/91 x ln(1 + y x 91/365): RBI's simple 91-day yield, continuously compounded."""
    return 365 / 91 * math.log(1 + yield_percent / 100 * 91 / 365)


@pytest.mark.parametrize(
    ("moment", "yield_percent"),
    [
        ("2019-04-03 10:00", 6.2322),  # RBI Bulletin 11-Jun-2019, auction of 03-Apr-2019
        ("2020-04-09 10:00", 4.2972),  # RBI press release 2019-2020/2192, 08-Apr-2020
        ("2021-07-20 10:00", 3.4439),  # RBI Handbook Table 210, auction of 07-Jul-2021
        ("2024-10-10 10:00", 6.4739),  # RBI Handbook Table 217, auction of 03-Oct-2024
        ("2025-09-18 11:00", 5.4976),  # auction of 17-Sep-2025
        ("2025-12-02 10:00", 5.3633),  # auction of 26-Nov-2025: the replayed NSE snapshots' day
        ("2026-01-22 10:00", 5.4889),  # auction of 21-Jan-2026
    ],
)
def test_the_rate_at_an_instant_is_the_latest_auction_on_or_before_its_day(
    moment: str, yield_percent: float
) -> None:
    at = datetime.fromisoformat(moment).replace(tzinfo=IST)
    assert rate_at(at) == pytest.approx(continuous(yield_percent), abs=1e-12)


def test_a_hand_computed_rate_matches_the_cut_off_price() -> None:
    # 03-Sep-2025: cut-off price 98.6450 for 100 in 91 days -> 365/91 x ln(100/98.645) = 0.054721;
    # the table's 5.51% (two decimals as reported) gives 0.054725.
    at = datetime(2025, 9, 5, 12, 0, tzinfo=IST)
    assert rate_at(at) == pytest.approx(365 / 91 * math.log(100 / 98.645), abs=1e-5)
    assert rate_at(at) == pytest.approx(0.054725, abs=1e-6)


def test_the_rate_changes_on_the_ist_date_of_the_auction() -> None:
    # 16-Sep-2025 19:00 UTC is 17-Sep 00:30 IST: the 17-Sep auction's row already.
    assert rate_at(datetime(2025, 9, 16, 19, 0, tzinfo=UTC)) == pytest.approx(continuous(5.4976))
    assert rate_at(datetime(2025, 9, 16, 18, 0, tzinfo=UTC)) == pytest.approx(continuous(5.505))


def test_july_to_september_2025_is_about_five_and_a_half_percent_not_six_and_a_half() -> None:
    rows = [r for r in rate_table().rows if date(2025, 7, 1) <= r.auction <= date(2025, 9, 30)]
    assert rows and all(5.35 <= float(r.cutoff_yield_percent) <= 5.55 for r in rows)
    assert 0.053 < rate_at(datetime(2025, 8, 15, 12, 0, tzinfo=IST)) < 0.055


def test_before_the_table_the_first_row_holds() -> None:
    first = rate_table().rows[0]
    assert first.auction == date(2019, 4, 3)
    assert rate_at(datetime(2018, 6, 1, 12, 0, tzinfo=IST)) == pytest.approx(first.continuous)


def test_every_row_is_sourced_and_every_year_2019_to_2026_has_one() -> None:
    rows = rate_table().rows
    assert [r.auction for r in rows] == sorted(r.auction for r in rows)
    assert all(len(r.source) > 20 for r in rows)
    assert {r.auction.year for r in rows} >= set(range(2019, 2027))
