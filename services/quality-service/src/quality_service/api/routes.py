"""`/quality/*`: status, run now, stored runs, and the dashboard."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, BackgroundTasks, Query
from fastapi.responses import HTMLResponse, PlainTextResponse, Response, StreamingResponse

from optrade.calendar import IST, is_trading_day
from optrade.domain import TradeWindow
from optrade.errors import InvalidInput, UpstreamUnavailable
from optrade.export.response import RUN_STATUS_HEADER, TOTAL_COUNT_HEADER
from optrade.instants import INSTANT_DESCRIPTION, check_range, instant_param
from optrade.security import ApiKeyDep
from quality_service import history, runs
from quality_service.api.deps import (
    READ_GUARD,
    EngineDep,
    NotifierDep,
    ProducerDep,
    RunDep,
    SessionDep,
    SettingsDep,
)
from quality_service.celeryconfig import BACKFILL_TASK
from quality_service.dashboard import render_dashboard
from quality_service.export import EXPORT_FORMATS, QualityExportFormat, export_run
from quality_service.report import render_text
from quality_service.schemas import QualityRunPublic, QualityStatus, QueuedTask, RunPage
from quality_service.status import quality_status, to_public

router = APIRouter(prefix="/quality", tags=["quality"])
Format = Literal["json", "text"]
TEXT = {"content": {"text/plain": {}}, "description": "the run, or its text report"}


def _respond(run: QualityRunPublic, fmt: Format, status_code: int = 200) -> Response:
    if fmt == "text":
        return PlainTextResponse(render_text(run), status_code=status_code)
    return Response(run.model_dump_json(), status_code=status_code, media_type="application/json")


@router.get("/status", response_model=QualityStatus, operation_id="getQualityStatus")
def get_status(session: SessionDep) -> QualityStatus:
    """Overall status, the latest run, the next scheduled run and recent history."""
    return quality_status(session, datetime.now(UTC))


@router.post(
    "/checks",
    response_model=QualityRunPublic,
    status_code=201,
    dependencies=[ApiKeyDep],
    responses={201: TEXT, 401: {"description": "missing or invalid API key"}},
    operation_id="runQualityCheck",
)
def run_checks(
    engine: EngineDep,
    settings: SettingsDep,
    background: BackgroundTasks,
    notifier: NotifierDep,
    lookback_days: Annotated[int, Query(ge=1, le=runs.MAX_LOOKBACK_DAYS)] = 1,
    start: Annotated[
        str | None, Query(alias="from", description=f"closed at or after; {INSTANT_DESCRIPTION}")
    ] = None,
    end: Annotated[
        str | None, Query(alias="to", description=f"closed before; {INSTANT_DESCRIPTION}")
    ] = None,
    mode: Annotated[
        Literal["live", "replay", "all"],
        Query(description="trades counted: live (default), replay or all (both)"),
    ] = "live",
    format: Annotated[Format, Query(description="json or the text report")] = "json",
) -> Response:
    """Run the checks now over `from`..`to`, or today (IST) or the last `lookback_days` days."""
    counted = None if mode == "all" else mode  # TradeWindow: no mode = both
    requested = _requested_window(instant_param("from", start), instant_param("to", end))
    run = runs.run_manual_check(
        engine, lookback_days=lookback_days, window=requested, label=_label(requested),
        mode=counted, settings=settings, alert=False,
    )  # fmt: skip
    runs.finish_run(engine, run, settings=settings, notifier=notifier, defer=background.add_task)
    return _respond(to_public(run), format, status_code=201)


def _label(requested: TradeWindow | None) -> str | None:
    if requested is None or requested.start is None or requested.end is None:
        return None
    start, end = requested.start.astimezone(IST), requested.end.astimezone(IST)
    return f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} IST"


def _requested_window(start: datetime | None, end: datetime | None) -> TradeWindow | None:
    """The `from`/`to` window of a manual run: both or neither, `to` later, at most 90 days."""
    if start is None and end is None:
        return None
    if start is None or end is None:
        missing = "from" if start is None else "to"
        raise InvalidInput(missing, "from and to go together (or give neither)")
    check_range(start, end)
    if end - start > timedelta(days=runs.MAX_LOOKBACK_DAYS):
        raise InvalidInput("to", f"a window spans at most {runs.MAX_LOOKBACK_DAYS} days")
    return TradeWindow(start=start.astimezone(UTC), end=end.astimezone(UTC))


@router.post(
    "/backfills",
    response_model=QueuedTask,
    status_code=202,
    dependencies=[ApiKeyDep],
    responses={401: {"description": "missing or invalid API key"}, 503: {}},
    operation_id="queueQualityBackfill",
)
def queue_backfill(
    producer: ProducerDep,
    trading_date: Annotated[
        date, Query(description="the NSE trading date to repair (IST): today or before")
    ],
) -> QueuedTask:
    """Queue the snapshot backfill and re-check of a trading date on the worker."""
    today = datetime.now(IST).date()
    if trading_date > today:  # its run would become the latest and hide today's status
        raise InvalidInput("trading_date", f"{trading_date} is after today ({today}, IST)")
    if not is_trading_day(trading_date):
        raise InvalidInput("trading_date", f"{trading_date} is not an NSE trading day")
    try:
        # Its outcome is a stored run, not a task result: the API needs no result backend.
        sent = producer.send_task(
            BACKFILL_TASK, kwargs={"trading_date": trading_date.isoformat()}, ignore_result=True
        )
    except Exception as exc:  # noqa: BLE001 - any broker failure is the same answer to the client
        raise UpstreamUnavailable(f"the task broker is unavailable: {type(exc).__name__}") from exc
    return QueuedTask(task_id=sent.id, task=BACKFILL_TASK, trading_date=trading_date)


@router.get("/runs", response_model=RunPage, operation_id="listQualityRuns")
def list_runs(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> RunPage:
    """Stored runs, newest first."""
    page, total = history.list_runs(session, limit=limit, offset=offset)
    return RunPage(items=[to_public(r) for r in page], total=total, limit=limit, offset=offset)


@router.get(
    "/runs/{run_id}",
    response_model=QualityRunPublic,
    responses={200: TEXT, 404: {}},
    operation_id="getQualityRun",
)
def get_run(run: RunDep, format: Format = "json") -> Response:
    """One stored run, as JSON or as its text report."""
    return _respond(to_public(run), format)


@router.get(
    "/runs/{run_id}/trades",
    dependencies=[READ_GUARD],
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {t: {} for t in EXPORT_FORMATS.values()},
            "description": "exactly the trades the run counted, by id, in the training export's "
            "columns (flattened `feature_*`, the manifest in the Parquet footer)",
            "headers": {
                TOTAL_COUNT_HEADER: {"description": "rows", "schema": {"type": "integer"}},
                RUN_STATUS_HEADER: {
                    "description": "the run's status: only a `pass` run's trades are certified",
                    "schema": {"type": "string"},
                },
            },
        },
        404: {},
        409: {},
    },  # fmt: skip
    operation_id="exportQualityRunTrades",
)
def export_run_trades(
    run: RunDep,
    engine: EngineDep,
    format: Annotated[QualityExportFormat, Query(description="parquet or csv")] = "parquet",
) -> StreamingResponse:
    """The trades a stored run counted, exactly (certified training data of a passing run)."""
    return export_run(engine, run, format)


@router.get("/dashboard", response_class=HTMLResponse, operation_id="getQualityDashboard")
def dashboard(
    session: SessionDep,
    settings: SettingsDep,
    runs_shown: Annotated[int, Query(alias="runs", ge=1, le=365)] = 60,
) -> HTMLResponse:
    """The coverage trend of each check over the stored runs, as an HTML page."""
    status = quality_status(session, datetime.now(UTC))
    page, _ = history.list_runs(session, limit=runs_shown)
    shown = [to_public(r) for r in reversed(page) if r.status not in ("skipped", "running")]
    models_url = settings.models_page_url()
    return HTMLResponse(render_dashboard(status, shown, models_url))
