"""Performance per decision: the legs of a strategy are one outcome (one GROUP BY query).

Grouped by (model_version, model_hash, strategy name): `decisions` counts strategies (a single
order, `strategy` "single", is a decision of its own, per position), a win is a decision whose
counted closes sum to P&L > 0, and the return on margin is the P&L over the margin the
strategies blocked when they opened (null for single orders, which record no margin). The same
trades are counted as in `order_service.ml.performance` (doubtful exits only when included).
"""

from __future__ import annotations

from collections.abc import Collection
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, and_, case, func, literal, select

from optrade.db.models import Strategy, Trade
from optrade.domain import TradeWindow
from order_service.ml.performance import UNVERSIONED, Doubtful, _included
from order_service.ml.reading import reader_engine, trade_conditions
from order_service.ml.schemas import StrategyPerformance

TRADE = Trade.__table__  # type: ignore[attr-defined]
STRATEGY = Strategy.__table__  # type: ignore[attr-defined]
SINGLE = "single"
CENTS = Decimal("0.01")


def _per_decision(window: TradeWindow, include: Collection[Doubtful]) -> Any:
    """One row per decision: a strategy's legs together, or one position of a single order."""
    included = _included(include)
    decision = func.coalesce(TRADE.c.strategy_id, -TRADE.c.position_id)

    def when(value: Any, condition: Any = included) -> Any:
        return case((condition, value))

    return (
        select(
            TRADE.c.model_version,
            TRADE.c.model_hash,
            TRADE.c.strategy_id,
            func.count(when(1)).label("trades"),
            func.sum(when(TRADE.c.pnl)).label("pnl"),
            func.sum(when(TRADE.c.charges)).label("charges"),
            func.sum(when(TRADE.c.net_pnl)).label("net_pnl"),
            func.count(when(1, and_(included, TRADE.c.net_pnl.is_(None)))).label("uncharged"),
        )
        .where(*trade_conditions(window))
        .group_by(TRADE.c.model_version, TRADE.c.model_hash, TRADE.c.strategy_id, decision)
        .subquery("per_decision")
    )


def strategy_performance_query(window: TradeWindow, include: Collection[Doubtful] = ()) -> Any:
    per_decision = _per_decision(window, include)
    d = per_decision.c
    name = func.coalesce(STRATEGY.c.name, literal(SINGLE)).label("strategy")
    counted = d.trades > 0
    return (
        select(
            d.model_version,
            d.model_hash,
            name,
            func.count(case((counted, 1))).label("decisions"),
            func.count(case((and_(counted, d.pnl > 0), 1))).label("wins"),
            func.sum(d.trades).label("trades"),
            func.sum(d.pnl).label("total_pnl"),
            func.sum(d.charges).label("charges"),
            func.sum(d.net_pnl).label("net_pnl"),
            func.sum(d.uncharged).label("uncharged"),
            func.sum(case((counted, STRATEGY.c.margin))).label("margin"),
        )
        .select_from(per_decision.outerjoin(STRATEGY, STRATEGY.c.id == d.strategy_id))
        .group_by(d.model_version, d.model_hash, name)
    )


def _money(value: Any) -> Decimal:
    return Decimal(str(value or 0)).quantize(CENTS)


def _row(row: Any) -> StrategyPerformance:
    decisions = int(row.decisions or 0)
    total = _money(row.total_pnl)
    net = _money(row.net_pnl) if int(row.uncharged or 0) == 0 else None
    margin = _money(row.margin) if row.margin is not None else None
    return StrategyPerformance(
        model_version=row.model_version,
        model_hash=row.model_hash,
        label=row.model_version if row.model_version is not None else UNVERSIONED,
        strategy=row.strategy,
        decisions=decisions,
        trades=int(row.trades or 0),
        wins=int(row.wins or 0),
        win_rate=float(row.wins or 0) / decisions if decisions else None,
        total_pnl=total,
        net_pnl=net,
        margin=margin,
        return_on_margin=float(total / margin) if margin else None,
        net_return_on_margin=float(net / margin) if margin and net is not None else None,
    )


def strategy_performance(
    engine: Engine, window: TradeWindow, include: Collection[Doubtful] = ()
) -> list[StrategyPerformance]:
    """One entry per (model, strategy name) with trades in the window; single orders beside."""
    reader = reader_engine(engine)
    with reader.connect() as connection:
        rows = connection.execute(strategy_performance_query(window, include)).all()
    found = [_row(row) for row in rows]
    return sorted(
        found,
        key=lambda s: (s.model_version is None, s.model_version or "", s.model_hash or "",
                       s.strategy == SINGLE, s.strategy),
    )  # fmt: skip
