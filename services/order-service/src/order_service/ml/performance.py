"""Per-model performance of closed trades, aggregated by the database (one GROUP BY query).

A model is a (model_version, model_hash) pair; trades without a version form their own group,
reported with `model_version: null` and the label "unversioned" rather than dropped. A trade is
complete by `optrade.domain.complete_record`: every entry and exit Greek, chain field and context
field, and all of its model metadata (a non-empty `features_snapshot` object); a trade without a
version therefore never counts as complete.

Outcomes are per position: the closes of one position (a partial close and its remainder) are
summed into one outcome, so a win rate counts decisions, not fills; a win is a position whose net
P&L (gross for a trade stored before charges were recorded) is above zero. The score figures
(AUC, Brier score, log loss, calibration, deciles, bootstrap intervals) are `evaluation`'s, on
each model's per-position arrays read from the same per-position query. Returns are P&L-weighted:
total P&L / total premium (entry price × lots × lot size), which a small trade cannot dominate.
Trades whose exit price came from the client (`exit_price_source` `client`) or whose exit
snapshot is `missing` are left out of every figure unless asked for (`include`), and are counted
beside them either way.
"""

from __future__ import annotations

from collections.abc import Collection
from decimal import Decimal
from enum import StrEnum
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, Engine, Float, and_, case, cast, func, not_, or_, select, true

from optrade.db.models import Trade
from optrade.domain import SECONDS_PER_DAY, SnapshotSource, TradeWindow, complete_record
from order_service.ml.evaluation import Positions, score_quality
from order_service.ml.reading import reader_engine, trade_conditions
from order_service.ml.schemas import ModelPerformance

UNVERSIONED = "unversioned"
TRADE = Trade.__table__  # type: ignore[attr-defined]
CENTS = Decimal("0.01")


class Doubtful(StrEnum):
    """Trades whose label is not the market's: left out of performance unless included."""

    CLIENT = "client"  # the exit price is the client's
    MISSING = "missing"  # no exit snapshot was captured


def _wall_clock_seconds(dialect: str) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return func.extract("epoch", TRADE.c.closed_at - TRADE.c.opened_at)
    return (func.julianday(TRADE.c.closed_at) - func.julianday(TRADE.c.opened_at)) * float(
        SECONDS_PER_DAY
    )


def _holding_seconds(dialect: str) -> ColumnElement[Any]:
    """Market time held; wall-clock for trades stored before market time was recorded."""
    return func.coalesce(TRADE.c.market_seconds_held, cast(_wall_clock_seconds(dialect), Float))


def doubtful_conditions() -> dict[Doubtful, ColumnElement[bool]]:
    return {
        Doubtful.CLIENT: TRADE.c.exit_price_source == SnapshotSource.CLIENT.value,
        Doubtful.MISSING: TRADE.c.exit_source == SnapshotSource.MISSING.value,
    }


def _included(include: Collection[Doubtful]) -> ColumnElement[bool]:
    left_out = [cond for kind, cond in doubtful_conditions().items() if kind not in include]
    return not_(or_(*left_out)) if left_out else true()


def _per_position(window: TradeWindow, include: Collection[Doubtful], dialect: str) -> Any:
    """One row per position: its included closes summed, and its doubtful closes counted."""
    included = _included(include)
    premium = TRADE.c.entry_price * TRADE.c.lots * TRADE.c.lot_size
    complete = complete_record(TRADE.c, dialect)
    doubtful = doubtful_conditions()

    def when(value: Any, condition: ColumnElement[bool] = included) -> Any:
        return case((condition, value))

    return (
        select(
            TRADE.c.model_version,
            TRADE.c.model_hash,
            TRADE.c.position_id,
            func.max(TRADE.c.ml_score).label("score"),  # the entry's: one per position
            func.sum(when(func.coalesce(TRADE.c.net_pnl, TRADE.c.pnl))).label("outcome"),
            func.count(when(1)).label("trades"),
            func.sum(when(TRADE.c.pnl)).label("pnl"),
            func.sum(when(TRADE.c.charges)).label("charges"),
            func.sum(when(TRADE.c.net_pnl)).label("net_pnl"),
            func.count(when(1, and_(included, TRADE.c.net_pnl.is_(None)))).label("uncharged"),
            func.sum(when(premium)).label("premium"),
            func.sum(when(_holding_seconds(dialect))).label("holding"),
            func.sum(when(TRADE.c.margin_blocked)).label("margin"),  # issue 22
            func.count(when(1, and_(included, TRADE.c.margin_blocked.is_(None)))).label(
                "unmargined"
            ),
            func.count(when(1, and_(included, complete))).label("complete"),
            func.count(when(1, doubtful[Doubtful.CLIENT])).label("client"),
            func.count(when(1, doubtful[Doubtful.MISSING])).label("missing"),
        )
        .where(*trade_conditions(window))
        .group_by(TRADE.c.model_version, TRADE.c.model_hash, TRADE.c.position_id)
        .subquery("per_position")
    )


def performance_query(window: TradeWindow, dialect: str, include: Collection[Doubtful] = ()) -> Any:
    p = _per_position(window, include, dialect).c
    keys = (p.model_version, p.model_hash)
    return select(
        *keys,
        func.sum(p.trades).label("trades"),
        func.count(case((p.trades > 0, 1))).label("positions"),
        func.count(case((and_(p.trades > 0, p.outcome > 0), 1))).label("wins"),
        func.sum(p.pnl).label("total_pnl"),
        func.sum(p.charges).label("charges"),
        func.sum(p.net_pnl).label("net_pnl"),
        func.sum(p.uncharged).label("uncharged"),
        func.sum(p.premium).label("premium"),
        func.sum(p.holding).label("holding"),
        func.sum(p.margin).label("margin_blocked"),
        func.sum(p.unmargined).label("unmargined"),
        func.sum(p.complete).label("complete_trades"),
        func.sum(p.client).label("client_exit_trades"),
        func.sum(p.missing).label("missing_exit_trades"),
    ).group_by(*keys)


def _money(value: Any) -> Decimal:
    return Decimal(str(value or 0)).quantize(CENTS)


def _ratio(numerator: Any, denominator: Any) -> float | None:
    if not denominator:
        return None
    return float(numerator or 0) / float(denominator)


def _row_performance(row: Any) -> ModelPerformance:
    trades, positions = int(row.trades or 0), int(row.positions or 0)
    total = _money(row.total_pnl)
    charged = int(row.uncharged or 0) == 0  # every counted trade has its charges
    net = _money(row.net_pnl) if charged else None
    return ModelPerformance(
        model_version=row.model_version,
        model_hash=row.model_hash,
        label=row.model_version if row.model_version is not None else UNVERSIONED,
        trades=trades,
        positions=positions,
        wins=int(row.wins or 0),
        win_rate=_ratio(row.wins, positions),
        total_pnl=total,
        charges=_money(row.charges) if charged else None,
        net_pnl=net,
        mean_pnl=(total / positions).quantize(CENTS) if positions else None,
        weighted_return=_ratio(row.total_pnl, row.premium),
        net_weighted_return=_ratio(net, row.premium) if net is not None else None,
        mean_holding_seconds=_ratio(row.holding, trades),
        complete_trades=int(row.complete_trades or 0),
        completeness=_ratio(row.complete_trades, trades),
        client_exit_trades=int(row.client_exit_trades or 0),
        missing_exit_trades=int(row.missing_exit_trades or 0),
        **_margin_figures(row, net),
    )


def _key(model: ModelPerformance) -> tuple[str | None, str | None]:
    return (model.model_version, model.model_hash)


def _is(column: Any, value: str | None) -> ColumnElement[bool]:
    return column.is_(None) if value is None else column == value  # type: ignore[no-any-return]


def positions_query(
    window: TradeWindow, dialect: str, key: tuple[str | None, str | None] | None,
    include: Collection[Doubtful] = (),
) -> Any:  # fmt: skip
    """One model's counted positions, by id: score, net outcome (gross where uncharged), premium,
    margin blocked and how many of its closes lack it.

    `key` None: every position of the window (its `model_version` names one version, any hash)."""
    p = _per_position(window, include, dialect).c
    model = [] if key is None else [_is(p.model_version, key[0]), _is(p.model_hash, key[1])]
    columns = (p.score, p.outcome, p.premium, p.margin, p.unmargined)
    return select(*columns).where(*model, p.trades > 0).order_by(p.position_id)


def model_positions(
    connection: Any, window: TradeWindow, key: tuple[str | None, str | None] | None,
    include: Collection[Doubtful] = (),
) -> Positions:  # fmt: skip
    """The arrays `evaluation` works on; the database sums each position's closes. The margin
    array is there only when every counted close recorded its margin blocked."""
    rows = connection.execute(positions_query(window, connection.dialect.name, key, include)).all()
    table = np.array(rows, dtype=np.float64).reshape(-1, 5)  # NULL score -> NaN
    margined = len(table) > 0 and not table[:, 4].any()
    margin = table[:, 3] if margined else None
    return Positions(score=table[:, 0], net=table[:, 1], premium=table[:, 2], margin=margin)


def _margin_figures(row: Any, net: Decimal | None) -> dict[str, Any]:
    """Σ margin_blocked and net_pnl / it, when every counted trade has its margin label."""
    if int(row.unmargined or 0) or not row.margin_blocked:
        return {"margin_blocked": None, "return_on_margin": None}
    blocked = _money(row.margin_blocked)
    return {
        "margin_blocked": blocked,
        "return_on_margin": _ratio(net, blocked) if net is not None else None,
    }


def model_performance(
    engine: Engine, window: TradeWindow, include: Collection[Doubtful] = ()
) -> list[ModelPerformance]:
    """One entry per (model_version, model_hash) with trades in the window; unversioned last.

    Counts and sums come from one GROUP BY; the score figures (`evaluation.score_quality`) from
    each model's per-position arrays."""
    reader = reader_engine(engine)
    with reader.connect() as connection:
        query = performance_query(window, reader.dialect.name, include)
        counted = [_row_performance(row) for row in connection.execute(query).all()]
        models = [
            ModelPerformance.model_validate(
                model.model_dump()
                | score_quality(model_positions(connection, window, _key(model), include))
            )
            for model in counted
        ]
    return sorted(
        models, key=lambda m: (m.model_version is None, m.model_version or "", m.model_hash or "")
    )
