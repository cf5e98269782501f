"""The seventh check, `feature_drift`: have the features a model sees moved since it started?

For each model version in the checked trades and each numeric top-level key of their
`features_snapshot`, the session's values are compared with a reference: the same version's
trades (same mode) closed in its first `QUALITY_DRIFT_REFERENCE_DAYS` NSE trading days (from the
day of its first close), or the window `QUALITY_DRIFT_REFERENCE_FROM`..`_TO` when set, and never
after the checked window starts. Two figures per feature:

- the population stability index over 10 bins cut at the reference's deciles:
  PSI = Σ (session share − reference share) × ln(session share / reference share), each share
  floored at 1e-4 so an empty bin stays finite;
- the two-sample Kolmogorov–Smirnov statistic (scipy's `ks_2samp`) and its p-value.

A feature drifts above PSI `QUALITY_DRIFT_WARN_PSI` (0.1): the check warns, naming it. Above
`QUALITY_DRIFT_FAIL_PSI` (0.25) it fails only when `QUALITY_DRIFT_FAILS=true`; by default drift
never fails a run, so it never blocks training. The numeric values are picked out by the database
(`json_each` / `jsonb_each`, numbers only); numpy groups them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from numpy.typing import NDArray
from scipy.stats import ks_2samp
from sqlalchemy import (
    ColumnElement,
    Connection,
    Float,
    Text,
    and_,
    case,
    cast,
    func,
    literal,
    select,
    true,
)

from optrade.calendar import IST, trading_days
from optrade.domain import TradeWindow
from quality_service.schedule import day_start
from quality_service.schemas import (
    CheckBreakdown,
    CheckResult,
    CheckStatus,
    FeatureDrift,
)
from quality_service.scope import TRADE
from quality_service.settings import QualitySettings

NAME = "feature_drift"
LABEL = "Feature Drift"
BINS = 10
FLOOR = 1e-4
SEPARATOR = "\x1f"  # between version and key in the grouping label
Floats = NDArray[np.float64]
Values = dict[tuple[str | None, str], Floats]


def psi(reference: Floats, current: Floats, bins: int = BINS) -> float:
    """Population stability index of `current` against `reference`, bins at reference quantiles."""
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1))[1:-1])
    expected = np.bincount(
        np.searchsorted(edges, reference, side="right"), minlength=len(edges) + 1
    )
    actual = np.bincount(np.searchsorted(edges, current, side="right"), minlength=len(edges) + 1)
    p = np.maximum(expected / len(reference), FLOOR)
    q = np.maximum(actual / len(current), FLOOR)
    return float(np.sum((q - p) * np.log(q / p)))


def stride(trades: int, settings: QualitySettings) -> int:
    """Read every n-th trade id so that at most `QUALITY_DRIFT_MAX_TRADES` are read."""
    return max(1, math.ceil(trades / settings.drift_max_trades))


def _numeric_features(connection: Connection, where: ColumnElement[bool], every: int = 1) -> Values:
    """Every numeric top-level feature value of the trades `where` selects (every `every`-th id:
    a systematic sample spread over the whole window), per (version, key)."""
    if every > 1:
        where = and_(where, TRADE.c.id % every == 0)
    features = TRADE.c.features_snapshot
    if connection.dialect.name == "postgresql":
        # Anything but an object (JSON null, an array) reads as the empty object.
        empty = func.jsonb_build_object()
        guarded = case((func.jsonb_typeof(features) == "object", features), else_=empty)
        each = func.jsonb_each(guarded).table_valued("key", "value").lateral("feature")
        numeric = func.jsonb_typeof(each.c.value) == "number"
        value = cast(cast(each.c.value, Text), Float)
    else:
        empty = func.json_object()
        guarded = case((func.json_type(features) == "object", features), else_=empty)
        each = func.json_each(guarded).table_valued("key", "value", "type").alias("feature")
        numeric = each.c.type.in_(("integer", "real"))
        value = cast(each.c.value, Float)
    label = (
        func.coalesce(TRADE.c.model_version, "").op("||")(literal(SEPARATOR)).op("||")(each.c.key)
    )
    query = (
        select(TRADE.c.model_version, each.c.key, value, label)
        .select_from(TRADE.join(each, true()))
        .where(where, numeric)
    )
    rows = connection.execute(query).all()
    if not rows:
        return {}
    versions, keys, values, labels = (np.array(c, dtype=object) for c in zip(*rows, strict=True))
    labels = labels.astype(str)
    order = np.argsort(labels, kind="stable")
    _, starts = np.unique(labels[order], return_index=True)
    groups = np.split(order, starts[1:])
    return {(versions[g[0]], str(keys[g[0]])): values[g].astype(np.float64) for g in groups}


def _first_close(
    connection: Connection, window: TradeWindow, version: str | None
) -> datetime | None:
    model = TRADE.c.model_version.is_(None) if version is None else TRADE.c.model_version == version
    mode = [TRADE.c.mode == window.mode] if window.mode is not None else []
    found = connection.execute(select(func.min(TRADE.c.closed_at)).where(model, *mode)).scalar()
    return found if isinstance(found, datetime) else None


def reference_window(
    connection: Connection, window: TradeWindow, version: str | None, settings: QualitySettings
) -> TradeWindow | None:
    """The version's reference: the set window, or its first N trading days; never after the
    checked window starts. None when nothing precedes the checked window."""
    assert window.start is not None
    if settings.drift_reference_from is not None and settings.drift_reference_to is not None:
        start, end = settings.drift_reference_from, settings.drift_reference_to
    else:
        first = _first_close(connection, window, version)
        if first is None:
            return None
        first_day = first.astimezone(IST).date()
        days = trading_days(
            first_day, first_day + timedelta(days=3 * settings.drift_reference_days + 10)
        )
        last_day = days[: settings.drift_reference_days][-1] if days else first_day
        start, end = day_start(first_day), day_start(last_day + timedelta(days=1))
    end = min(end, window.start)
    if end <= start:
        return None
    return TradeWindow(start=start, end=end, mode=window.mode, model_version=version)


@dataclass(frozen=True)
class _Compared:
    drift: FeatureDrift
    status: CheckStatus


def _grade(value: float, settings: QualitySettings) -> CheckStatus:
    if value > settings.threshold_feature_drift and settings.drift_fails:
        return CheckStatus.FAIL
    return CheckStatus.WARN if value > settings.drift_warn_psi else CheckStatus.PASS


def _compare(
    version: str | None, key: str, reference: Floats, current: Floats, settings: QualitySettings
) -> _Compared:
    enough = min(len(reference), len(current)) >= settings.drift_min_samples
    if not enough:
        drift = FeatureDrift(
            model_version=version, feature=key, reference_n=len(reference), session_n=len(current),
            psi=None, ks=None, ks_p_value=None, status=CheckStatus.NO_DATA,
        )  # fmt: skip
        return _Compared(drift, CheckStatus.NO_DATA)
    value = psi(reference, current)
    ks = ks_2samp(reference, current)
    status = _grade(value, settings)
    drift = FeatureDrift(
        model_version=version, feature=key, reference_n=len(reference), session_n=len(current),
        psi=round(value, 6), ks=float(ks.statistic), ks_p_value=float(ks.pvalue), status=status,
    )  # fmt: skip
    return _Compared(drift, status)


def _reference(connection: Connection, at: TradeWindow, settings: QualitySettings) -> Values:
    condition = _in(at)
    found = select(func.count().label("reference_trades")).where(condition)
    trades = connection.execute(found).scalar() or 0
    return _numeric_features(connection, condition, stride(int(trades), settings))


def check(
    connection: Connection,
    window: TradeWindow,
    where: ColumnElement[bool],
    settings: QualitySettings,
    trades: int,
) -> CheckResult:
    """The `feature_drift` result of the `trades` trades `where` selects (the run's), in
    `window`; each side read from at most QUALITY_DRIFT_MAX_TRADES trades."""
    if not trades:
        return _result([], settings)
    session = _numeric_features(connection, where, stride(trades, settings))
    compared: list[_Compared] = []
    empty: Floats = np.empty(0)
    for version in sorted({v for v, _ in session}, key=lambda v: (v is None, v or "")):
        at = reference_window(connection, window, version, settings)
        reference = {} if at is None else _reference(connection, at, settings)
        for key in sorted(k for v, k in session if v == version):
            found = reference.get((version, key), empty)
            compared.append(_compare(version, key, found, session[version, key], settings))
    return _result(compared, settings)


def _in(window: TradeWindow) -> ColumnElement[bool]:
    return and_(true(), *window.conditions(TRADE.c))


def _result(compared: list[_Compared], settings: QualitySettings) -> CheckResult:
    graded = [c for c in compared if c.status != CheckStatus.NO_DATA]
    drifted = [c.drift for c in graded if c.status != CheckStatus.PASS]
    if not graded:
        status = CheckStatus.NO_DATA
    elif any(c.status == CheckStatus.FAIL for c in graded):
        status = CheckStatus.FAIL
    else:
        status = CheckStatus.WARN if drifted else CheckStatus.PASS
    passed = len(graded) - len(drifted)
    return CheckResult(
        name=NAME,
        label=LABEL,
        kind="features",
        status=status,
        threshold=settings.threshold_feature_drift,
        warn_below=settings.drift_warn_psi,
        total=len(graded),
        passed=passed,
        coverage=round(100.0 * passed / len(graded), 4) if graded else None,
        fields=[],
        breakdown=CheckBreakdown(),
        failing_trade_ids=[],
        drift=[c.drift for c in compared],
        drifted_features=sorted({d.feature for d in drifted}),
    )
