"""Charges on a round trip equal a hand computation from the rate table in docs/charges.md."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from optrade.charges import exercise_charges, order_charges, rate_table, round_trip_charges
from optrade.domain import Side

DOC = Path(__file__).resolve().parents[2] / "docs" / "charges.md"
COLUMNS = (
    "effective_from",
    "brokerage_per_order",
    "stt_sell_percent",
    "exchange_transaction_percent",
    "sebi_fee_per_crore",
    "ipft_per_crore",
    "stamp_duty_buy_percent",
    "gst_percent",
    "stt_exercise_percent",
)


def documented_rows() -> list[dict[str, str]]:
    rows = re.findall(r"^\| (\d{4}-\d{2}-\d{2}) \|(.*)\|$", DOC.read_text(), flags=re.M)
    return [
        dict(zip(COLUMNS, [day, *(cell.strip() for cell in rest.split("|"))], strict=True))
        for day, rest in rows
    ]


def test_the_bundled_rate_table_is_the_one_in_the_docs() -> None:
    bundled = [
        {name: str(getattr(schedule, name)) for name in COLUMNS}
        for schedule in rate_table().schedules
    ]
    assert bundled == documented_rows()


def test_a_long_round_trip_matches_the_hand_computation_to_the_paisa() -> None:
    """BUY 1 × 75 at 100.10, SELL at 120.05 on 01-Dec-2025 (the 2024-10-01 schedule).

    buy  7507.50: brokerage 20.00, exchange 7507.50 × 0.03503% = 2.6299 → 2.63,
         SEBI 7507.50 × 10/1e7 = 0.0075 → 0.01, IPFT 7507.50 × 50/1e7 = 0.0375 → 0.04,
         stamp 7507.50 × 0.003% = 0.2252 → 0.23,
         GST 18% × (20 + 2.63 + 0.01 + 0.04) = 4.0824 → 4.08: 26.99
    sell 9003.75: brokerage 20.00, STT 0.1% = 9.0038 → 9.00, exchange 3.1540 → 3.15,
         SEBI 0.0090 → 0.01, IPFT 0.0450 → 0.05, GST 18% × 23.21 = 4.1778 → 4.18: 36.39
    """
    day = date(2025, 12, 1)
    schedule = rate_table().on(day)
    buy = order_charges(schedule, Side.BUY, Decimal("7507.50"))
    sell = order_charges(schedule, Side.SELL, Decimal("9003.75"))
    assert (buy.brokerage, buy.stt, buy.exchange, buy.sebi, buy.ipft, buy.stamp, buy.gst) == tuple(
        Decimal(v) for v in ("20.00", "0.00", "2.63", "0.01", "0.04", "0.23", "4.08")
    )
    assert (
        sell.brokerage,
        sell.stt,
        sell.exchange,
        sell.sebi,
        sell.ipft,
        sell.stamp,
        sell.gst,
    ) == tuple(Decimal(v) for v in ("20.00", "9.00", "3.15", "0.01", "0.05", "0.00", "4.18"))
    assert (buy.total, sell.total) == (Decimal("26.99"), Decimal("36.39"))
    total = round_trip_charges(
        side=Side.BUY, entry_price=Decimal("100.10"), exit_price=Decimal("120.05"), lots=1,
        lots_opened=1, lot_size=75, entry_day=day, exit_day=day,
    )  # fmt: skip
    assert total == Decimal("63.38")


def test_a_short_round_trip_after_april_2026_pays_the_new_stt() -> None:
    """SELL 2 × 65 at 256.20, BUY back at 180.40 on 02-Jun-2026 (STT 0.15%).

    sell 33306.00: brokerage 20.00, STT 0.15% = 49.959 → 49.96, exchange 11.6671 → 11.67,
         SEBI 0.0333 → 0.03, IPFT 0.1665 → 0.17, GST 18% × 31.87 = 5.7366 → 5.74: 87.57
    buy  23452.00: brokerage 20.00, exchange 8.2152 → 8.22, SEBI 0.0235 → 0.02,
         IPFT 0.1173 → 0.12, stamp 0.7036 → 0.70, GST 18% × 28.36 = 5.1048 → 5.10: 34.16
    """
    day = date(2026, 6, 2)
    total = round_trip_charges(
        side=Side.SELL, entry_price=Decimal("256.20"), exit_price=Decimal("180.40"), lots=2,
        lots_opened=2, lot_size=65, entry_day=day, exit_day=day,
    )  # fmt: skip
    assert total == Decimal("87.57") + Decimal("34.16")


def test_a_partial_close_pays_its_share_of_the_opening_brokerage() -> None:
    day = date(2025, 12, 1)
    one_of_three = round_trip_charges(
        side=Side.BUY, entry_price=Decimal("100.10"), exit_price=Decimal("120.05"), lots=1,
        lots_opened=3, lot_size=75, entry_day=day, exit_day=day,
    )  # fmt: skip
    # the same lines as the 1-lot round trip, with 20/3 = 6.67 of opening brokerage (and its GST:
    # 18% × (6.67 + 2.63 + 0.01 + 0.04) = 1.683 → 1.68 instead of 4.08)
    assert one_of_three == Decimal("63.38") - Decimal("20.00") + Decimal("6.67") - Decimal(
        "4.08"
    ) + Decimal("1.68")


def test_a_date_before_the_table_is_refused() -> None:
    with pytest.raises(ValueError, match="no charge schedule"):
        rate_table().on(date(2020, 1, 1))


def test_ipft_is_fifty_rupees_per_crore_of_premium_on_both_sides() -> None:
    # 1 crore of premium: Rs 50 on the buy and on the sell (0.0005%), and 18% GST on it.
    schedule = rate_table().on(date(2025, 12, 1))
    for side in (Side.BUY, Side.SELL):
        lines = order_charges(schedule, side, Decimal(10_000_000))
        assert lines.ipft == Decimal("50.00")
        # GST: 18% × (20 + 3503 + 10 + 50) = 644.94
        assert lines.gst == Decimal("644.94")


@pytest.mark.parametrize(
    ("intrinsic", "units", "day", "stt"),
    [
        # NIFTY 25800 CE settled at 26032.20 on 02-Dec-2025, 2 lots of 75: 232.20 × 150 = 34830
        # of settlement value; 0.125% = 43.5375 → 43.54
        ("232.20", 150, date(2025, 12, 2), "43.54"),
        # the last day at 0.125%: 100 × 65 = 6500 → 8.125 → 8.13 (half up)
        ("100.00", 65, date(2026, 3, 31), "8.13"),
        # from 01-Apr-2026, 0.15%: 6500 → 9.75
        ("100.00", 65, date(2026, 4, 1), "9.75"),
        # expired worthless: nothing
        ("0.00", 75, date(2025, 12, 2), "0.00"),
    ],
)
def test_exercise_stt_is_a_dated_share_of_the_settlement_value(
    intrinsic: str, units: int, day: date, stt: str
) -> None:
    assert exercise_charges(Decimal(intrinsic), units, day) == Decimal(stt)


def test_exercise_before_the_table_is_refused_not_zero() -> None:
    with pytest.raises(ValueError, match="no charge schedule"):
        exercise_charges(Decimal("10"), 75, date(2020, 1, 1))
