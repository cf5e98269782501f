"""Marks at the mid (LTP where a side is empty), unrealized P&L and Greeks by underlying."""

from __future__ import annotations

import math

import numpy as np
import pytest

from optrade.domain import Side
from optrade.errors import InvalidInput
from order_service.domain.mark_to_market import mark_of, mark_to_market, marks_of


def test_the_mark_is_the_mid_or_the_last_price_where_a_side_is_empty() -> None:
    marks = marks_of(
        bid=[100.05, None, 0.0, None, 0.0],
        ask=[100.15, 98.0, 40.0, None, 0.0],
        ltp=[99.0, 97.5, 41.2, 12.0, None],
    )
    np.testing.assert_allclose(marks[:4], [100.10, 97.5, 41.2, 12.0])
    assert math.isnan(marks[4])


def test_one_contract_is_marked_as_the_arrays_mark_it() -> None:
    """`mark_of` (the fill path's one quote, no numpy) is `marks_of` for a single contract."""
    cases = [(100.05, 100.15, 99.0), (None, 98.0, 97.5), (0.0, 40.0, 41.2), (None, None, 12.0),
             (0.0, 0.0, None), (-1.0, 5.0, 0.0), (float("nan"), 3.0, 2.5)]  # fmt: skip
    for bid, ask, ltp in cases:
        many = float(marks_of([bid], [ask], [ltp])[0])
        one = mark_of(bid, ask, ltp)
        assert (one is None and math.isnan(many)) or one == pytest.approx(many), (bid, ask, ltp)


def test_unrealized_pnl_and_greeks_add_up_by_hand() -> None:
    # long 75 NIFTY CE bought at 120, marked at (130 + 131) / 2 = 130.5 -> +787.50
    # short 150 NIFTY PE sold at 80, marked at LTP 90 (no ask)      -> -1 500.00
    # short 30 BANKNIFTY CE sold at 300, no price at all            -> unmarked
    result = mark_to_market(
        underlying=["NIFTY", "NIFTY", "BANKNIFTY"],
        entry=[120.0, 80.0, 300.0],
        units=[75, 150, 30],
        side=[Side.BUY, Side.SELL, Side.SELL],
        bid=[130.0, 89.0, None],
        ask=[131.0, None, None],
        ltp=[129.0, 90.0, None],
        delta=[0.5, -0.4, 0.3],
        gamma=[0.001, 0.002, 0.0005],
        theta=[-10.0, -8.0, -20.0],
        vega=[12.0, 11.0, 30.0],
    )
    assert result.unrealized[:2].tolist() == [787.5, -1500.0]
    assert result.total_unrealized == -712.5
    assert result.unmarked == (2,)
    nifty = result.greeks["NIFTY"]
    assert nifty.delta == pytest.approx(0.5 * 75 - (-0.4) * 150)  # 37.5 + 60 = 97.5
    assert nifty.gamma == pytest.approx(0.001 * 75 - 0.002 * 150)
    assert nifty.theta == pytest.approx(-10 * 75 + 8 * 150)  # the short earns the decay
    assert nifty.vega == pytest.approx(12 * 75 - 11 * 150)
    assert result.greeks["BANKNIFTY"].delta == pytest.approx(-0.3 * 30)


def test_a_thousand_random_positions_sum_like_a_plain_loop() -> None:
    rng = np.random.default_rng(7)
    n = 1000
    entry = rng.uniform(1, 500, n).round(2)
    bid = (entry + rng.normal(0, 20, n)).clip(0.05).round(2)
    ask = (bid + 0.05 * rng.integers(1, 5, n)).round(2)
    units = 75 * rng.integers(1, 5, n)
    side = rng.choice([1, -1], n)
    names = rng.choice(["NIFTY", "BANKNIFTY", "FINNIFTY"], n)
    delta = rng.uniform(-1, 1, n)
    result = mark_to_market(
        underlying=names, entry=entry, units=units, side=side, bid=bid, ask=ask, ltp=bid,
        delta=delta, gamma=delta, theta=delta, vega=delta,
    )  # fmt: skip
    loop = sum(
        ((b + a) / 2 - e) * u * s
        for b, a, e, u, s in zip(bid, ask, entry, units, side, strict=True)
    )
    assert result.total_unrealized == pytest.approx(loop, abs=1e-6)
    for name in ("NIFTY", "BANKNIFTY", "FINNIFTY"):
        mine = names == name
        assert result.greeks[name].delta == pytest.approx(float(delta[mine] @ (units * side)[mine]))


def test_a_column_of_the_wrong_length_or_an_unknown_side_is_refused() -> None:
    common = dict(underlying=["NIFTY"], entry=[1.0], units=[75], bid=[1.0], ask=[1.1], ltp=[1.0],
                  delta=[0.1], gamma=[0.0], theta=[0.0], vega=[0.0])  # fmt: skip
    with pytest.raises(InvalidInput, match="side"):
        mark_to_market(side=["HOLD"], **common)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="units"):
        mark_to_market(side=[1], **{**common, "units": [75, 75]})  # type: ignore[arg-type]
