"""Charges on a round trip equal a hand computation from the rate table in docs/charges.md."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from optrade.charges import order_charges, rate_table, round_trip_charges
from optrade.domain import Side

DOC = Path(__file__).resolve().parents[2] / "docs" / "charges.md"
COLUMNS = (
    "effective_from",
    "brokerage_per_order",
    "stt_sell_percent",
    "exchange_transaction_percent",
    "sebi_fee_per_crore",
    "stamp_duty_buy_percent",
    "gst_percent",
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
         SEBI 7507.50 × 10/1e7 = 0.0075 → 0.01, stamp 7507.50 × 0.003% = 0.2252 → 0.23,
         GST 18% × (20 + 2.63 + 0.01) = 4.0752 → 4.08: 26.95
    sell 9003.75: brokerage 20.00, STT 0.1% = 9.0038 → 9.00, exchange 3.1540 → 3.15,
         SEBI 0.0090 → 0.01, GST 18% × 23.16 = 4.1688 → 4.17: 36.33
    """
    day = date(2025, 12, 1)
    schedule = rate_table().on(day)
    buy = order_charges(schedule, Side.BUY, Decimal("7507.50"))
    sell = order_charges(schedule, Side.SELL, Decimal("9003.75"))
    assert (buy.brokerage, buy.stt, buy.exchange, buy.sebi, buy.stamp, buy.gst) == tuple(
        Decimal(v) for v in ("20.00", "0.00", "2.63", "0.01", "0.23", "4.08")
    )
    assert (sell.brokerage, sell.stt, sell.exchange, sell.sebi, sell.stamp, sell.gst) == tuple(
        Decimal(v) for v in ("20.00", "9.00", "3.15", "0.01", "0.00", "4.17")
    )
    total = round_trip_charges(
        side=Side.BUY, entry_price=Decimal("100.10"), exit_price=Decimal("120.05"), lots=1,
        lots_opened=1, lot_size=75, entry_day=day, exit_day=day,
    )  # fmt: skip
    assert total == Decimal("63.28")


def test_a_short_round_trip_after_april_2026_pays_the_new_stt() -> None:
    """SELL 2 × 65 at 256.20, BUY back at 180.40 on 02-Jun-2026 (STT 0.15%).

    sell 33306.00: brokerage 20.00, STT 0.15% = 49.959 → 49.96, exchange 11.6671 → 11.67,
         SEBI 0.0333 → 0.03, GST 18% × 31.70 = 5.706 → 5.71: 87.37
    buy  23452.00: brokerage 20.00, exchange 8.2152 → 8.22, SEBI 0.0235 → 0.02,
         stamp 0.7036 → 0.70, GST 18% × 28.24 = 5.0832 → 5.08: 34.02
    """
    day = date(2026, 6, 2)
    total = round_trip_charges(
        side=Side.SELL, entry_price=Decimal("256.20"), exit_price=Decimal("180.40"), lots=2,
        lots_opened=2, lot_size=65, entry_day=day, exit_day=day,
    )  # fmt: skip
    assert total == Decimal("87.37") + Decimal("34.02")


def test_a_partial_close_pays_its_share_of_the_opening_brokerage() -> None:
    day = date(2025, 12, 1)
    one_of_three = round_trip_charges(
        side=Side.BUY, entry_price=Decimal("100.10"), exit_price=Decimal("120.05"), lots=1,
        lots_opened=3, lot_size=75, entry_day=day, exit_day=day,
    )  # fmt: skip
    # the same lines as the 1-lot round trip, with 20/3 = 6.67 of opening brokerage (and its GST:
    # 18% × (6.67 + 2.63 + 0.01) = 1.6758 → 1.68 instead of 4.08)
    assert one_of_three == Decimal("63.28") - Decimal("20.00") + Decimal("6.67") - Decimal(
        "4.08"
    ) + Decimal("1.68")


def test_a_date_before_the_table_is_refused() -> None:
    with pytest.raises(ValueError, match="no charge schedule"):
        rate_table().on(date(2020, 1, 1))
