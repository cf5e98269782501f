"""Per-model performance against figures computed by hand, including the unversioned model."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, delete

from optrade.db.models import Position, Trade
from optrade.domain import TradeWindow
from order_service.ml.performance import UNVERSIONED, model_performance
from tests.support.factories import OPENED_AT, insert_trades, missing_snapshot, trade_values

HOUR = timedelta(hours=1)


@pytest.fixture(scope="module", autouse=True)
def trades(engine: Engine) -> Iterator[None]:
    insert_trades(
        engine,
        [
            # v1/h1: +1500 (2 lots, 2 h), −750 (1 h), +375 (3 h, exit snapshot missing)
            trade_values(lots=2, held=2 * HOUR),
            trade_values(exit_price="90.00", held=HOUR),
            trade_values(
                exit_price="105.00",
                held=3 * HOUR,
                exit=missing_snapshot("exit_", OPENED_AT + 3 * HOUR, "all providers: down"),
            ),
            # v1 under another hash is another model
            trade_values(model_hash="h1b", exit_price="120.00"),
            # v2: a SELL with an empty features object (metadata incomplete)
            trade_values(
                side="SELL",
                exit_price="80.00",
                model_version="v2",
                model_hash="h2",
                features_snapshot={},
            ),  # fmt: skip
            # no version: +750 and a flat trade (not a win); entered outside the window below
            trade_values(model_version=None, model_hash=None, exit_price="110.00", held=4 * HOUR),
            trade_values(model_version=None, model_hash=None, exit_price="100.00", held=2 * HOUR),
            trade_values(opened_at=OPENED_AT + timedelta(days=5)),  # outside the window
        ],
    )
    yield
    with engine.begin() as connection:
        connection.execute(delete(Trade))
        connection.execute(delete(Position))


def by_model(engine: Engine) -> dict[tuple[str | None, str | None], Any]:
    window = TradeWindow(start=OPENED_AT, end=OPENED_AT + timedelta(days=1))
    return {(m.model_version, m.model_hash): m for m in model_performance(engine, window)}


def test_figures_equal_those_computed_by_hand(engine: Engine) -> None:
    models = by_model(engine)
    assert list(models) == [("v1", "h1"), ("v1", "h1b"), ("v2", "h2"), (None, None)]

    v1 = models["v1", "h1"]
    assert (v1.label, v1.trades, v1.wins) == ("v1", 3, 2)
    assert v1.win_rate == pytest.approx(2 / 3)
    assert v1.total_pnl == Decimal("1125.00") and v1.mean_pnl == Decimal("375.00")
    assert v1.mean_return == pytest.approx((0.1 - 0.1 + 0.05) / 3)
    assert v1.mean_holding_seconds == pytest.approx(7200)
    assert (v1.complete_trades, v1.completeness) == (2, pytest.approx(2 / 3))

    other_hash = models["v1", "h1b"]
    assert (other_hash.trades, other_hash.total_pnl, other_hash.completeness) == (
        1, Decimal("1500.00"), 1.0,
    )  # fmt: skip

    v2 = models["v2", "h2"]
    assert (v2.trades, v2.wins, v2.total_pnl) == (1, 1, Decimal("1500.00"))  # sold 100, bought 80
    assert v2.mean_return == pytest.approx(0.2) and v2.completeness == 0.0


def test_the_unversioned_model_is_reported_not_dropped(engine: Engine) -> None:
    unversioned = by_model(engine)[None, None]
    assert unversioned.label == UNVERSIONED
    assert (unversioned.trades, unversioned.wins, unversioned.win_rate) == (2, 1, 0.5)
    assert unversioned.total_pnl == Decimal("750.00") and unversioned.mean_pnl == Decimal("375.00")
    assert unversioned.mean_holding_seconds == pytest.approx(3 * 3600)
    assert unversioned.completeness == 0.0  # no model version: metadata incomplete


def test_no_window_counts_every_trade(engine: Engine) -> None:
    models = model_performance(engine, TradeWindow())
    assert sum(m.trades for m in models) == 8
