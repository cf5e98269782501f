"""What `/quality/status` reports: the latest verdict, the schedule, whether a run is overdue."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Engine
from sqlmodel import Session

from optrade.calendar import IST, coverage_warning
from optrade.db.models import QualityRun
from quality_service.history import has_scheduled_run, latest_evaluated, list_runs
from quality_service.schedule import next_scheduled_run, overdue_candidate
from quality_service.schemas import (
    CheckResult,
    OverallStatus,
    QualityRunPublic,
    QualityStatus,
    RunDetails,
    RunSummary,
    TrainingOutcome,
)

RECENT_RUNS = 7


def to_public(run: QualityRun) -> QualityRunPublic:
    assert run.id is not None
    details = RunDetails.of(run.details)
    return QualityRunPublic(
        id=run.id,
        trigger=run.trigger,  # type: ignore[arg-type]
        status=run.status,  # type: ignore[arg-type]
        trading_date=run.trading_date,
        window_start=run.window_start,
        window_end=run.window_end,
        window_label=details.window_label,
        mode=details.mode,
        counted_trades_url=f"/quality/runs/{run.id}/trades"
        if details.counted_ids is not None
        else None,
        started_at=run.started_at,
        finished_at=run.finished_at,
        total_trades=run.total_trades,
        thresholds=run.thresholds,
        checks=[CheckResult.model_validate(c) for c in run.checks],
        alerts=[a.model_dump(mode="json", exclude_none=True) for a in details.alerts],
        note=run.note,
        before_run_id=details.before_run_id,
        coverage_before=details.coverage_before,
        backfill=details.backfill,
        training=TrainingOutcome.model_validate(run.training) if run.training else None,
    )


def to_summary(run: QualityRun) -> RunSummary:
    assert run.id is not None
    return RunSummary(
        id=run.id,
        trigger=run.trigger,  # type: ignore[arg-type]
        status=run.status,  # type: ignore[arg-type]
        trading_date=run.trading_date,
        started_at=run.started_at,
        total_trades=run.total_trades,
        coverage={c["name"]: c.get("coverage") for c in run.checks},
    )


def overdue_date(session: Session, now: datetime) -> date | None:
    """The trading date whose 16:30 IST has passed without a scheduled run, if any."""
    candidate = overdue_candidate(now)
    return None if has_scheduled_run(session, candidate) else candidate


def latest_and_overdue(engine: Engine, now: datetime) -> tuple[QualityRun | None, bool]:
    with Session(engine) as session:
        return latest_evaluated(session), overdue_date(session, now) is not None


def quality_status(session: Session, now: datetime) -> QualityStatus:
    latest = latest_evaluated(session)
    recent, _ = list_runs(session, limit=RECENT_RUNS)
    late = overdue_date(session, now)
    return QualityStatus(
        status=OverallStatus(latest.status) if latest else OverallStatus.NEVER_RUN,
        latest_run=to_public(latest) if latest else None,
        checks=[CheckResult.model_validate(c) for c in latest.checks] if latest else [],
        next_scheduled_run=next_scheduled_run(now),
        overdue=late is not None,
        overdue_trading_date=late,
        recent_runs=[to_summary(run) for run in recent],
        calendar_warning=coverage_warning(now.astimezone(IST).date()),
        as_of=now.astimezone(IST),
    )
