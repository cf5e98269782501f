"""Greek P&L attribution: the formula by hand, side sign, missing Greeks, Trade objects."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from optrade.attribution import ATTRIBUTION_COLUMNS, attribution
from optrade.db.models import Trade
from tests.support.factories import snapshot, trade_values

HELD = timedelta(hours=2)  # 1/12 of a calendar day


THETA_2H = -12 * (7200 / 22_500) * (365 / 252) * 150


def hand_trade(side: str = "BUY", **overrides: object) -> dict[str, object]:
    """2 lots × 75; entry Δ .5, Γ .001, Θ −12/day, ν 8/vol pt; spot +40, IV 14 → 15, 2 h held."""
    values = trade_values(side=side, lots=2, held=HELD)
    values |= snapshot("exit_", values["closed_at"], spot=Decimal("26040"), iv=15.0)  # type: ignore[arg-type]
    return values | overrides


def test_each_part_by_hand_for_a_buy() -> None:
    parts = attribution(hand_trade())
    # units = 2 × 75 × (+1) = 150
    assert parts["attr_delta"] == pytest.approx(0.5 * 40 * 150)  # 3000
    assert parts["attr_gamma"] == pytest.approx(0.5 * 0.001 * 40**2 * 150)  # 120
    # 2 h of session (09:30-11:30 IST Monday) = 7200 / 22 500 of a session × 365/252 days
    assert parts["attr_theta"] == pytest.approx(THETA_2H)  # −69.52...
    assert parts["attr_vega"] == pytest.approx(8 * 1 * 150)  # 1200
    assert parts["attr_explained"] == pytest.approx(4320 + THETA_2H)
    assert parts["attr_residual"] == pytest.approx(1500 - 4320 - THETA_2H)  # pnl = 10 × 150


def test_a_sell_flips_every_part_and_the_pnl() -> None:
    buy, sell = attribution(hand_trade("BUY")), attribution(hand_trade("SELL"))
    for name in ATTRIBUTION_COLUMNS:
        assert sell[name] == pytest.approx(-buy[name])  # type: ignore[operator]


def test_a_missing_greek_nulls_its_part_and_the_totals_only() -> None:
    parts = attribution(hand_trade(entry_vega=None))
    assert parts["attr_vega"] is None
    assert parts["attr_delta"] == pytest.approx(3000)
    assert parts["attr_explained"] is None and parts["attr_residual"] is None


def test_a_missing_exit_snapshot_leaves_only_theta() -> None:
    parts = attribution(hand_trade(exit_spot=None, exit_iv=None))
    assert parts["attr_theta"] == pytest.approx(THETA_2H)
    assert [parts[n] for n in ("attr_delta", "attr_gamma", "attr_vega")] == [None, None, None]


def test_works_on_a_trade_object() -> None:
    values = hand_trade()
    trade = Trade(position_id=1, **values)
    assert attribution(trade) == pytest.approx(attribution(values))
