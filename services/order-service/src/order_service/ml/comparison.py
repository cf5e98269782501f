"""A/B comparison of two model versions and the regression gate built on it.

Each arm is every position of one model version (any hash) closed in the compared window: the
request's `from`/`to` when given, otherwise the span in which both versions closed trades (the
later first close to the earlier last close), so a version that traded through a different
market is not compared with one that did not. The figures are `evaluation.compare`'s.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Any

import numpy as np
from sqlalchemy import Engine, func, select

from optrade.domain import TradeWindow
from optrade.errors import InvalidInput
from order_service.ml.evaluation import (
    METRICS,
    MIN_POSITIONS,
    Positions,
    compare,
    gate_verdict,
    unavailable_reason,
)
from order_service.ml.performance import TRADE, model_positions
from order_service.ml.reading import reader_engine, trade_conditions
from order_service.ml.schemas import CompareArm, GateVerdict, ModelComparison

CompareMetric = StrEnum("CompareMetric", {name: name for name in METRICS})  # type: ignore[misc]
_LAST_CLOSE_INCLUDED = timedelta(microseconds=1)  # the window's end is exclusive


def _both_traded(
    connection: Any, window: TradeWindow, versions: tuple[str, str]
) -> TradeWindow | None:
    """`window` narrowed to the span in which both versions closed trades (unless `from` or `to`
    is given); None when they never traded at the same time."""
    if window.start is not None or window.end is not None:
        return window
    spans = connection.execute(
        select(TRADE.c.model_version, func.min(TRADE.c.closed_at), func.max(TRADE.c.closed_at))
        .where(*trade_conditions(window), TRADE.c.model_version.in_(versions))
        .group_by(TRADE.c.model_version)
    ).all()
    if len(spans) < 2:
        return window  # an arm without trades: it is reported with n = 0
    start = max(first for _, first, _ in spans)
    end = min(last for _, _, last in spans) + _LAST_CLOSE_INCLUDED
    return window.model_copy(update={"start": start, "end": end}) if end > start else None


def _arm(connection: Any, window: TradeWindow | None, version: str) -> Positions:
    if window is None:
        return Positions(*(np.empty(0),) * 3)
    return model_positions(connection, window.model_copy(update={"model_version": version}), None)


def _compare(
    engine: Engine, window: TradeWindow, baseline: str, candidate: str, metric: str
) -> ModelComparison:
    chosen = METRICS[metric]
    reader = reader_engine(engine)
    with reader.connect() as connection:
        compared = _both_traded(connection, window, (baseline, candidate))
        base, cand = (_arm(connection, compared, version) for version in (baseline, candidate))
    if reason := unavailable_reason(chosen, base):
        raise InvalidInput("metric", reason)
    found = compare(chosen, base, cand)
    shown = compared or window
    return ModelComparison(
        metric=metric,
        closed_from=shown.start,
        closed_to=shown.end,
        underlying=shown.underlying,
        mode=str(shown.mode),
        baseline=CompareArm(model_version=baseline, n=found.baseline_n, value=found.baseline),
        candidate=CompareArm(model_version=candidate, n=found.candidate_n, value=found.candidate),
        difference=found.difference,
        low=found.low,
        high=found.high,
        p_value=found.p_value,
    )


def compare_versions(
    engine: Engine, window: TradeWindow, baseline: str, candidate: str, metric: str
) -> ModelComparison:
    """candidate − baseline on `metric` over the positions each closed in the compared window."""
    return _compare(engine, window, baseline, candidate, metric)


def gate(
    engine: Engine,
    window: TradeWindow,
    baseline: str,
    candidate: str,
    metric: str,
    *,
    min_delta: float,
    min_n: int = MIN_POSITIONS,
) -> GateVerdict:
    """The comparison and its verdict: `insufficient_data` when an arm has fewer than `min_n`
    positions, `pass` when the interval's lower bound is at or above `min_delta`, else `fail`."""
    found = _compare(engine, window, baseline, candidate, metric)
    verdict = gate_verdict(found.baseline.n, found.candidate.n, found.low, min_delta, min_n)
    return GateVerdict(**found.model_dump(), verdict=verdict, min_delta=min_delta, min_n=min_n)
