"""Per-model performance of closed trades, aggregated by the database (one GROUP BY query).

A model is a (model_version, model_hash) pair; trades without a version form their own group,
reported with `model_version: null` and the label "unversioned" rather than dropped. A trade is
complete by `optrade.domain.complete_record`: every entry and exit Greek, chain field and context
field, and all of its model metadata (a non-empty `features_snapshot` object); a trade without a
version therefore never counts as complete.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Engine, Float, case, cast, func, select

from optrade.db.models import Trade
from optrade.domain import SECONDS_PER_DAY, TradeWindow, complete_record
from order_service.ml.reading import reader_engine, trade_conditions
from order_service.ml.schemas import ModelPerformance

UNVERSIONED = "unversioned"
TRADE = Trade.__table__  # type: ignore[attr-defined]
CENTS = Decimal("0.01")


def _holding_seconds(dialect: str) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return func.extract("epoch", TRADE.c.closed_at - TRADE.c.opened_at)
    return (func.julianday(TRADE.c.closed_at) - func.julianday(TRADE.c.opened_at)) * float(
        SECONDS_PER_DAY
    )


def performance_query(window: TradeWindow, dialect: str) -> Any:
    premium = TRADE.c.entry_price * TRADE.c.lots * TRADE.c.lot_size
    complete = complete_record(TRADE.c, dialect)
    keys = (TRADE.c.model_version, TRADE.c.model_hash)
    return (
        select(
            *keys,
            func.count().label("trades"),
            func.count(case((TRADE.c.pnl > 0, 1))).label("wins"),
            func.sum(TRADE.c.pnl).label("total_pnl"),
            func.avg(cast(TRADE.c.pnl / func.nullif(premium, 0), Float)).label("mean_return"),
            func.avg(cast(_holding_seconds(dialect), Float)).label("mean_holding_seconds"),
            func.count(case((complete, 1))).label("complete_trades"),
        )
        .where(*trade_conditions(window))
        .group_by(*keys)
    )


def _row_performance(row: Any) -> ModelPerformance:
    trades = int(row.trades)
    total = Decimal(str(row.total_pnl)).quantize(CENTS)
    return ModelPerformance(
        model_version=row.model_version,
        model_hash=row.model_hash,
        label=row.model_version if row.model_version is not None else UNVERSIONED,
        trades=trades,
        wins=int(row.wins),
        win_rate=int(row.wins) / trades,
        total_pnl=total,
        mean_pnl=(total / trades).quantize(CENTS),
        mean_return=row.mean_return,
        mean_holding_seconds=row.mean_holding_seconds,
        complete_trades=int(row.complete_trades),
        completeness=int(row.complete_trades) / trades,
    )


def model_performance(engine: Engine, window: TradeWindow) -> list[ModelPerformance]:
    """One entry per (model_version, model_hash) with trades in the window; unversioned last."""
    reader = reader_engine(engine)
    with reader.connect() as connection:
        rows = connection.execute(performance_query(window, reader.dialect.name)).all()
    models = [_row_performance(row) for row in rows]
    return sorted(
        models, key=lambda m: (m.model_version is None, m.model_version or "", m.model_hash or "")
    )
