"""Per-model performance against figures computed by hand, including the unversioned model."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, delete, update

from optrade.db.models import Position, Trade
from optrade.domain import TradeWindow
from order_service.ml.performance import UNVERSIONED, Doubtful, model_performance
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
    # "vp": one position closed in two parts (+1500 on 2 lots, −750 on 1), another at −750,
    # a client-priced close (+750) and a replayed one (+750); each with ₹40.00 of charges.
    charged = {"model_version": "vp", "model_hash": "hp", "charges": Decimal("40.00")}
    live = {**charged, "mode": "live"}  # every row names its mode: one multi-row INSERT
    first, second, other, client, replay = insert_trades(
        engine,
        [
            trade_values(lots=2, net_pnl=Decimal("1460.00"), **live),
            trade_values(exit_price="90.00", net_pnl=Decimal("-790.00"), **live),
            trade_values(exit_price="90.00", net_pnl=Decimal("-790.00"), **live),
            trade_values(exit_price_source="client", net_pnl=Decimal("710.00"), **live),
            trade_values(mode="replay", net_pnl=Decimal("710.00"), **charged),
        ],
    )
    with engine.begin() as connection:  # the second close belongs to the first's position
        connection.execute(update(Trade).where(Trade.id == second).values(position_id=first))
    yield
    with engine.begin() as connection:
        connection.execute(delete(Trade))
        connection.execute(delete(Position))


def by_model(
    engine: Engine, mode: str = "live", include: set[Doubtful] | None = None
) -> dict[tuple[str | None, str | None], Any]:
    window = TradeWindow(start=OPENED_AT, end=OPENED_AT + timedelta(days=1), mode=mode)
    models = model_performance(engine, window, include or set())
    return {(m.model_version, m.model_hash): m for m in models}


def test_figures_equal_those_computed_by_hand(engine: Engine) -> None:
    models = by_model(engine)
    assert list(models) == [("v1", "h1"), ("v1", "h1b"), ("v2", "h2"), ("vp", "hp"), (None, None)]

    # v1/h1 without the missing exit: +1500 (premium 15 000, 2 h) and −750 (7500, 1 h)
    v1 = models["v1", "h1"]
    assert (v1.label, v1.trades, v1.positions, v1.wins) == ("v1", 2, 2, 1)
    assert v1.win_rate == pytest.approx(1 / 2)
    assert v1.total_pnl == Decimal("750.00") and v1.mean_pnl == Decimal("375.00")
    assert v1.weighted_return == pytest.approx(750 / 22_500)
    assert v1.mean_holding_seconds == pytest.approx(5400)
    assert (v1.complete_trades, v1.completeness) == (2, 1.0)
    assert (v1.missing_exit_trades, v1.client_exit_trades) == (1, 0)
    assert v1.charges is None and v1.net_pnl is None  # stored without charges: unknown, not 0

    other_hash = models["v1", "h1b"]
    assert (other_hash.trades, other_hash.total_pnl, other_hash.completeness) == (
        1, Decimal("1500.00"), 1.0,
    )  # fmt: skip

    v2 = models["v2", "h2"]
    assert (v2.trades, v2.wins, v2.total_pnl) == (1, 1, Decimal("1500.00"))  # sold 100, bought 80
    assert v2.weighted_return == pytest.approx(0.2) and v2.completeness == 0.0


def test_the_missing_exit_is_counted_when_included(engine: Engine) -> None:
    v1 = by_model(engine, include={Doubtful.MISSING})["v1", "h1"]
    assert (v1.trades, v1.positions, v1.wins) == (3, 3, 2)
    assert v1.total_pnl == Decimal("1125.00")
    assert v1.weighted_return == pytest.approx(1125 / 30_000)
    assert (v1.complete_trades, v1.missing_exit_trades) == (2, 1)


def test_partial_closes_are_one_position_and_charges_are_netted(engine: Engine) -> None:
    vp = by_model(engine)["vp", "hp"]
    # positions: (+1500 − 750) = +750 a win, −750 a loss; the client and replay closes left out
    assert (vp.trades, vp.positions, vp.wins, vp.win_rate) == (3, 2, 1, 0.5)
    assert vp.total_pnl == Decimal("0.00") and vp.mean_pnl == Decimal("0.00")
    assert (vp.charges, vp.net_pnl) == (Decimal("120.00"), Decimal("-120.00"))
    assert vp.weighted_return == 0.0
    assert vp.net_weighted_return == pytest.approx(-120 / 30_000)  # premium 15 000 + 2 × 7500
    assert (vp.client_exit_trades, vp.missing_exit_trades) == (1, 0)
    with_client = by_model(engine, include={Doubtful.CLIENT, Doubtful.MISSING})["vp", "hp"]
    assert (with_client.trades, with_client.positions, with_client.wins) == (4, 3, 2)
    assert with_client.net_pnl == Decimal("590.00")


def test_replayed_trades_are_kept_apart(engine: Engine) -> None:
    replayed = by_model(engine, mode="replay")
    assert list(replayed) == [("vp", "hp")]
    assert (replayed["vp", "hp"].trades, replayed["vp", "hp"].total_pnl) == (1, Decimal("750.00"))


def test_the_unversioned_model_is_reported_not_dropped(engine: Engine) -> None:
    unversioned = by_model(engine)[None, None]
    assert unversioned.label == UNVERSIONED
    assert (unversioned.trades, unversioned.wins, unversioned.win_rate) == (2, 1, 0.5)
    assert unversioned.total_pnl == Decimal("750.00") and unversioned.mean_pnl == Decimal("375.00")
    assert unversioned.mean_holding_seconds == pytest.approx(3 * 3600)
    assert unversioned.weighted_return == pytest.approx(750 / 15_000)
    assert unversioned.completeness == 0.0  # no model version: metadata incomplete


def test_no_window_counts_every_trade(engine: Engine) -> None:
    every = {Doubtful.CLIENT, Doubtful.MISSING}
    live = model_performance(engine, TradeWindow(mode="live"), every)
    replay = model_performance(engine, TradeWindow(mode="replay"), every)
    assert sum(m.trades for m in live) + sum(m.trades for m in replay) == 13
