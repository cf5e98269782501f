"""ML endpoints: training export, per-model performance, snapshot backfill."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse

from optrade.domain import TradeMode
from optrade.errors import InvalidInput
from optrade.export.manifest import ExportManifest, export_manifest
from optrade.export.response import TOTAL_COUNT_HEADER, export_response
from optrade.export.trades import MEDIA_TYPES, ExportFormat, plan_export
from optrade.security import ApiKeyDep
from order_service.api.deps import READ_GUARD, EngineDep, MarketDataDep, WindowDep
from order_service.ml.backfill import DEFAULT_LIMIT, backfill_snapshots
from order_service.ml.comparison import CompareMetric, compare_versions, gate
from order_service.ml.evaluation import MIN_POSITIONS
from order_service.ml.models_page import model_rows, render_models_page
from order_service.ml.performance import Doubtful, model_performance
from order_service.ml.schemas import (
    BackfillReport,
    GateVerdict,
    ModelComparison,
    PerformanceReport,
)
from order_service.ml.strategy_performance import strategy_performance

router = APIRouter(tags=["ml"])


class PerformanceGroup(StrEnum):
    MODEL = "model"
    STRATEGY = "strategy"  # a strategy's legs are one decision


GroupQuery = Annotated[
    PerformanceGroup,
    Query(description="`model` (per position), or `strategy`: per model and strategy name"),
]


@router.get(
    "/v1/trades/export",
    dependencies=[READ_GUARD],
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {MEDIA_TYPES[f]: {} for f in ExportFormat},
            "description": "one row per closed trade; each column's role, type and unit are in "
            "the manifest (the `Link` header, rel=describedby; Parquet: footer key "
            "`optrade.manifest`)",
            "headers": {
                TOTAL_COUNT_HEADER: {
                    "description": "rows in the export, counted when it started (for progress)",
                    "schema": {"type": "integer"},
                },
                "Link": {
                    "description": "the export's manifest: `<…/v1/trades/export/manifest?…>; "
                    'rel="describedby"`',
                    "schema": {"type": "string"},
                },
            },
        }
    },
    summary="Training export of closed trades (CSV or Parquet, streamed)",
)
def export_trades(
    request: Request,
    engine: EngineDep,
    window: WindowDep,
    export_format: Annotated[ExportFormat, Query(alias="format")] = ExportFormat.CSV,
) -> StreamingResponse:
    """Stream one row per trade closed in [from, to): identity, prices, P&L, return, holding
    time, entry and exit snapshots and their changes, model metadata, `feature_*` columns and
    the Greek P&L attribution (`attr_*`)."""
    manifest_url = request.url.replace(path=f"{request.url.path}/manifest")
    link = f'<{manifest_url}>; rel="describedby"; type="application/json"'
    return export_response(engine, window, export_format, filename="trades", headers={"Link": link})


@router.get(
    "/v1/trades/export/manifest",
    dependencies=[READ_GUARD],
    response_model=ExportManifest,
    summary="The export's columns with their role, type and unit (same filters as the export)",
    operation_id="getExportManifest",
)
def export_manifest_route(engine: EngineDep, window: WindowDep) -> ExportManifest:
    """Every column the export with these filters has, in order: role (`id`, `feature`,
    `entry_snapshot`, `exit_snapshot`, `label`, `attribution`, `metadata`), Arrow type and
    unit; the feature and label lists; feature-name collisions and where they went."""
    return export_manifest(plan_export(engine, window))


@router.get(
    "/v1/models/performance",
    response_model=PerformanceReport,
    summary="Per-model trades, win rate, P&L, return, holding time and data completeness",
    operation_id="getModelPerformance",
)
def performance(
    engine: EngineDep,
    window: WindowDep,
    include: Annotated[
        str | None,
        Query(
            max_length=40,
            description="comma-separated doubtful exits to count as well: `client` (the exit "
            "price was the client's), `missing` (no exit snapshot); default none",
        ),
    ] = None,
    group: GroupQuery = PerformanceGroup.MODEL,
) -> PerformanceReport:
    """Aggregate the trades closed in [from, to) per (model_version, model_hash), per position;
    live trades unless `mode=replay`; client-priced and missing exits counted beside; with
    `group=strategy` also per strategy, a strategy's legs one decision."""
    window = window.model_copy(update={"mode": window.mode or TradeMode.LIVE.value})
    included = _doubtful(include)
    by_strategy = group == PerformanceGroup.STRATEGY
    return PerformanceReport(
        closed_from=window.start,
        closed_to=window.end,
        mode=str(window.mode),
        include=sorted(included),
        models=model_performance(engine, window, included),
        group=group.value,
        strategies=strategy_performance(engine, window, included) if by_strategy else None,
    )


VersionQuery = Annotated[str, Query(min_length=1, max_length=64, description="a model_version")]
MetricQuery = Annotated[
    CompareMetric,
    Query(
        description="mean_net_pnl (rupees per position), win_rate, auc, or return_on_margin "
        "(refused with 422 until trades record the margin blocked)"
    ),
]


@router.get(
    "/v1/models/compare",
    response_model=ModelComparison,
    summary="A/B: candidate − baseline on one metric, bootstrap 95% interval, permutation p",
    operation_id="compareModels",
)
def compare_models(
    engine: EngineDep,
    window: WindowDep,
    baseline: VersionQuery,
    candidate: VersionQuery,
    metric: MetricQuery,
) -> ModelComparison:
    """Each version's positions closed in [from, to) (default: the span in which both traded),
    optionally of one `underlying`; live unless `mode=replay`."""
    window = window.model_copy(update={"mode": window.mode or TradeMode.LIVE.value})
    return compare_versions(engine, window, baseline, candidate, metric.value)


@router.get(
    "/v1/models/gate",
    response_model=GateVerdict,
    summary="Regression gate: pass when the interval of candidate − baseline clears min_delta",
    operation_id="gateModel",
)
def gate_model(
    engine: EngineDep,
    window: WindowDep,
    baseline: VersionQuery,
    candidate: VersionQuery,
    metric: MetricQuery,
    min_delta: Annotated[float, Query(allow_inf_nan=False, description="in the metric's unit")],
    min_n: Annotated[int, Query(ge=2, le=1_000_000)] = MIN_POSITIONS,
) -> GateVerdict:
    """`verdict`: pass when the lower bound of the 95% interval of (candidate − baseline) is at
    or above `min_delta`, fail when not, insufficient_data when an arm has fewer than `min_n`
    positions."""
    window = window.model_copy(update={"mode": window.mode or TradeMode.LIVE.value})
    return gate(engine, window, baseline, candidate, metric.value, min_delta=min_delta, min_n=min_n)


def _doubtful(include: str | None) -> set[Doubtful]:
    names = {name.strip() for name in (include or "").split(",") if name.strip()}
    known = {kind.value for kind in Doubtful}
    if unknown := names - known:
        raise InvalidInput(
            "include", f"unknown {sorted(unknown)}; use a comma-separated subset of {sorted(known)}"
        )
    return {Doubtful(name) for name in names}


@router.post(
    "/v1/trades/backfill",
    response_model=BackfillReport,
    dependencies=[ApiKeyDep],
    responses={401: {}},
    summary="Repair missing entry/exit snapshots from market-data history",
    operation_id="backfillSnapshots",
)
def backfill(
    engine: EngineDep,
    market_data: MarketDataDep,
    limit: Annotated[int, Query(ge=1, le=5_000)] = DEFAULT_LIMIT,
    after_id: Annotated[int, Query(ge=0)] = 0,
) -> BackfillReport:
    """Fill snapshots whose source is `missing` for at most `limit` trades after `after_id`."""
    return backfill_snapshots(engine, market_data, limit=limit, after_id=after_id)


@router.get(
    "/models",
    response_class=HTMLResponse,
    summary="Per-model page: cumulative P&L, win rate, trades, positions, completeness, exits",
    operation_id="getModelsPage",
)
def models_page(
    engine: EngineDep,
    window: WindowDep,
    baseline: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    candidate: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    metric: Annotated[CompareMetric, Query()] = CompareMetric["mean_net_pnl"],
    group: GroupQuery = PerformanceGroup.MODEL,
) -> HTMLResponse:
    """An HTML page (inline SVG, no JavaScript) of each model's trades closed in [from, to)
    and open positions; live trades unless `mode=replay`. With `baseline` and `candidate`, the
    A/B comparison of the two versions on `metric`; `group=strategy` adds a table per model and
    strategy."""
    window = window.model_copy(update={"mode": window.mode or TradeMode.LIVE.value})
    comparison = None
    if baseline and candidate:
        comparison = compare_versions(engine, window, baseline, candidate, metric.value)
    strategies = None
    if group == PerformanceGroup.STRATEGY:
        strategies = strategy_performance(engine, window, set(Doubtful))
    return HTMLResponse(
        render_models_page(model_rows(engine, window), comparison=comparison, strategies=strategies)
    )
