"""The run lifecycle: start a run, count and grade it, store it, finish it (metrics, alerts).

Manual, scheduled (once per trading date), backfill and catch-up runs. Every function takes an
engine and primitives, so the Celery tasks, the API and the tests all call the same code; reading
stored runs lives in `history`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from optrade.calendar import is_trading_day
from optrade.db.engine import session_scope
from optrade.db.models import QualityRun
from optrade.domain import TradeMode, TradeWindow, utcnow
from quality_service import drift, expiry_check, metrics
from quality_service.alerts import dispatch_alerts
from quality_service.checks import (
    CHECK_NAMES,
    count_window,
    evaluate,
    failing_samples,
    overall_status,
)
from quality_service.history import backfill_key, find_by_key, find_scheduled, scheduled_key
from quality_service.notify import Notifier
from quality_service.schedule import (
    lookback_label,
    lookback_window,
    session_label,
    session_window,
)
from quality_service.schemas import RunDetails, RunStatus, Trigger
from quality_service.scope import counted_ranges, run_condition
from quality_service.settings import QualitySettings, get_quality_settings

log = logging.getLogger(__name__)
Ranges = Sequence[Sequence[int]]

MAX_LOOKBACK_DAYS = 90


@dataclass(frozen=True)
class ScheduledOutcome:
    run: QualityRun
    created: bool  # False: this trading date had its scheduled run already


def thresholds_in_force(settings: QualitySettings) -> dict[str, float]:
    names = (*CHECK_NAMES, expiry_check.NAME, drift.NAME)
    return {name: settings.threshold(name) for name in names} | {
        "warn_margin": settings.warn_margin,
        "feature_drift_warn_psi": settings.drift_warn_psi,
    }


def _new_run(
    trigger: Trigger,
    window: TradeWindow,
    label: str,
    now: datetime,
    settings: QualitySettings,
    **details: Any,
) -> QualityRun:
    assert window.start is not None and window.end is not None  # a run's window is bounded
    return QualityRun(
        trigger=trigger,
        status=RunStatus.RUNNING,
        window_start=window.start,
        window_end=window.end,
        started_at=now,
        thresholds=thresholds_in_force(settings),
        details=RunDetails(window_label=label, mode=window.mode, **details).stored(),
    )


def run_window(run: QualityRun) -> TradeWindow:
    """The trades a stored run covers: its window and mode (None: live and replay)."""
    mode = RunDetails.of(run.details).mode
    known = mode in {m.value for m in TradeMode}
    # Runs stored before runs used TradeWindow wrote "all" for both modes.
    return TradeWindow(start=run.window_start, end=run.window_end, mode=mode if known else None)


@contextmanager
def snapshot_session(engine: Engine) -> Iterator[Session]:
    """A transaction whose statements all see one snapshot (REPEATABLE READ on PostgreSQL).

    The ids a run records and the counts it grades then describe the same trades even while
    trades are being closed; SQLite's transactions are serializable already.
    """
    with session_scope(engine) as session:
        if engine.dialect.name == "postgresql":
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        yield session


def _evaluate_into(
    session: Session, run: QualityRun, settings: QualitySettings, exclude: Ranges = ()
) -> None:
    """Count the run's trades (one aggregate query), grade them and record their ids."""
    started = time.perf_counter()
    conn = session.connection()
    details = RunDetails.of(run.details)
    where = run_condition(run_window(run), exclude)
    counts = count_window(conn, where)
    details.counted_ids = counted_ranges(conn, where, counts.id_span)
    failing = {name: span for name in CHECK_NAMES if (span := counts.failing_id_span(name))}
    samples = failing_samples(conn, where, failing, settings.failing_ids_limit)
    thresholds = {name: settings.threshold(name) for name in CHECK_NAMES}
    results = evaluate(counts, samples, thresholds, settings.warn_margin)
    # Positions stranded past expiry by the end of the window (or now, for today's window).
    cutoff = min(run.window_end, run.started_at)
    count, ids = expiry_check.stranded(conn, cutoff, settings.failing_ids_limit)
    results.append(expiry_check.result(count, ids, settings.threshold(expiry_check.NAME)))
    results.append(drift.check(conn, run_window(run), where, settings, counts.total))
    elapsed = time.perf_counter() - started
    run.total_trades = counts.total
    run.checks = [r.model_dump(mode="json") for r in results]
    run.status = overall_status(results, counts.total)
    run.finished_at = run.started_at + timedelta(seconds=elapsed)
    details.duration_ms = round(elapsed * 1000, 3)
    run.details = details.stored()


class Defer(Protocol):
    """Something that runs a call later, e.g. FastAPI's `BackgroundTasks.add_task`."""

    def __call__(self, func: Any, /, *args: Any, **kwargs: Any) -> None: ...


def finish_run(
    engine: Engine,
    run: QualityRun,
    *,
    settings: QualitySettings,
    notifier: Notifier | None,
    defer: Defer | None = None,
) -> None:
    """End a stored run: count it in the metrics and send its notices (now, or via `defer`).

    The API defers the notices so a slow channel (with retries) never holds its response; the
    worker sends them in the task.
    """
    metrics.observe_run(run)
    if defer is None:
        dispatch_alerts(engine, run, settings=settings, notifier=notifier, now=run.started_at)
    else:
        defer(
            dispatch_alerts, engine, run, settings=settings, notifier=notifier, now=run.started_at
        )


def run_manual_check(
    engine: Engine,
    *,
    lookback_days: int = 1,
    window: TradeWindow | None = None,
    label: str | None = None,
    mode: str | None = TradeMode.LIVE,
    now: datetime | None = None,
    settings: QualitySettings | None = None,
    notifier: Notifier | None = None,
    alert: bool = True,
) -> QualityRun:
    """Check the trades of `mode` (None: both) closed in `window` (labelled `label`), or
    today (IST) or the last `lookback_days` days."""
    if not 1 <= lookback_days <= MAX_LOOKBACK_DAYS:
        raise ValueError(f"lookback_days must be within 1..{MAX_LOOKBACK_DAYS}")
    settings = settings or get_quality_settings()
    now = now or utcnow()
    looked_back = lookback_days if window is None else None
    label = label or (lookback_label(lookback_days) if window is None else "requested window")
    window = (window or lookback_window(now, lookback_days)).model_copy(update={"mode": mode})
    run = _new_run(Trigger.MANUAL, window, label, now, settings, lookback_days=looked_back)
    _store_evaluated(engine, run, settings)
    if alert:
        finish_run(engine, run, settings=settings, notifier=notifier)
    return run


def _store_evaluated(
    engine: Engine, run: QualityRun, settings: QualitySettings, exclude: Ranges = ()
) -> None:
    with snapshot_session(engine) as session:
        session.add(run)
        session.flush()
        _evaluate_into(session, run, settings, exclude)


def _compared_with(before: QualityRun | None) -> dict[str, Any]:
    """The scheduled run a backfill run is compared with: its id and coverage per check."""
    if before is None or not before.checks:
        return {}
    coverage = {c["name"]: c["coverage"] for c in before.checks}
    return {"before_run_id": before.id, "coverage_before": coverage}


def run_backfill_check(
    engine: Engine,
    trading_date: date,
    backfill_report: dict[str, Any],
    *,
    now: datetime | None = None,
    settings: QualitySettings | None = None,
    notifier: Notifier | None = None,
) -> ScheduledOutcome:
    """Check `trading_date` again after the snapshot backfill and store it as a `backfill` run.

    The run carries the coverage of the same date's scheduled run (before the backfill) and the
    backfill's own counts, so the history shows what the repair changed; the per-check
    `backfilled` count says how many passing trades owe it to a repaired snapshot. A successful
    backfill's run is stored once per date (the unique `backfill:<date>` key, as for the scheduled
    run); one whose backfill failed carries no key, so a later attempt can still succeed.
    """
    settings = settings or get_quality_settings()
    now = now or utcnow()
    before = _compared_with(find_scheduled(engine, trading_date))
    window, label = session_window(trading_date), session_label(trading_date)
    run = _new_run(
        Trigger.BACKFILL, window, label, now, settings, backfill=backfill_report, **before
    )
    run.trading_date = trading_date
    if "error" in backfill_report:
        run.note = f"backfill failed: {backfill_report['error']}"
    else:
        run.scheduled_key = backfill_key(trading_date)
    try:
        _store_evaluated(engine, run, settings)
    except IntegrityError as exc:
        return _stored_twin(engine, run, exc)
    log.info("backfill re-check %s for %s: %s", run.id, trading_date, run.status)
    finish_run(engine, run, settings=settings, notifier=notifier)
    return ScheduledOutcome(run, created=True)


def _stored_twin(engine: Engine, run: QualityRun, exc: IntegrityError) -> ScheduledOutcome:
    """`run` lost the race on its once-per-date key: the run its twin stored first."""
    existing = find_by_key(engine, run.scheduled_key) if run.scheduled_key else None
    if existing is None:
        raise exc
    log.info("%s run for %s exists already (run %s)", run.trigger, run.trading_date, existing.id)
    return ScheduledOutcome(existing, created=False)


def run_scheduled_check(
    engine: Engine,
    trading_date: date,
    *,
    now: datetime | None = None,
    settings: QualitySettings | None = None,
    notifier: Notifier | None = None,
    missed: bool = False,
) -> ScheduledOutcome:
    """Run the daily check for `trading_date` at most once, however often it is triggered.

    The run row is inserted first, in the transaction that then counts and grades: a twin for
    the same date (duplicate beat, redelivered task, second thread) waits on the unique
    `scheduled_key` and gets an IntegrityError once this one commits, so it never counts twice;
    if this one dies before committing, nothing is stored and a redelivery runs it afresh.
    """
    settings = settings or get_quality_settings()
    now = now or utcnow()
    window, label = session_window(trading_date), session_label(trading_date)
    run = _new_run(Trigger.SCHEDULED, window, label, now, settings, missed=missed)
    run.trading_date = trading_date
    run.scheduled_key = scheduled_key(trading_date)
    try:
        with snapshot_session(engine) as session:
            session.add(run)
            session.flush()
            if is_trading_day(trading_date):
                _evaluate_into(session, run, settings)
            else:
                run.status = RunStatus.SKIPPED
                run.finished_at = run.started_at
                run.note = f"{trading_date.isoformat()} is not an NSE trading day"
    except IntegrityError as exc:
        return _stored_twin(engine, run, exc)
    log.info("scheduled run %s for %s: %s", run.id, trading_date, run.status)
    finish_run(engine, run, settings=settings, notifier=notifier)
    return ScheduledOutcome(run, created=True)
