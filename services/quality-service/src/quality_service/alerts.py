"""Failure, recovery and missed-run notices: a WARNING log line always, and a notice through every
channel of `notify` (apprise's `QUALITY_ALERT_URLS`, the legacy `QUALITY_WEBHOOK_URL`).

A notice names the failing checks, gives the coverage of every check and links the dashboard.

The cooldown state is derived from the stored runs: each run records in `RunDetails.alerts` what
was posted for it, so "was this check's failure posted within the cooldown?" is a query over the
last few runs, and a restarted worker or a second API replica sees the same answer.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from optrade.db.engine import session_scope
from optrade.db.models import QualityRun
from quality_service.notify import Notice, Notifier
from quality_service.report import percent
from quality_service.schemas import AlertRecord, CheckResult, CheckStatus, RunDetails, RunStatus
from quality_service.settings import QualitySettings

log = logging.getLogger(__name__)

EVALUATED = (RunStatus.PASS, RunStatus.WARN, RunStatus.FAIL)
# Runs whose counted trades a training job may use: every check at or above its threshold.
CERTIFYING = (RunStatus.PASS, RunStatus.WARN)
TRAINING_TRIGGERS = ("scheduled", "recheck")


def _checks(run: QualityRun) -> dict[str, CheckResult]:
    return {c["name"]: CheckResult.model_validate(c) for c in run.checks}


def _previous_statuses(session: Session, run: QualityRun) -> dict[str, str]:
    """Check statuses of the latest evaluated run before `run`."""
    previous = session.exec(
        select(QualityRun)
        .where(col(QualityRun.id) < run.id, col(QualityRun.status).in_(EVALUATED))
        .order_by(col(QualityRun.id).desc())
        .limit(1)
    ).first()
    return {c["name"]: c["status"] for c in previous.checks} if previous else {}


def _posted_recently(session: Session, run: QualityRun, since: datetime) -> set[str]:
    """Checks whose failure was posted by a run started at or after `since`."""
    recent = session.exec(
        select(QualityRun).where(
            col(QualityRun.id) < run.id,
            col(QualityRun.started_at) >= since,
            col(QualityRun.status) == RunStatus.FAIL,
        )
    ).all()
    return {
        alert.check
        for other in recent
        for alert in RunDetails.of(other.details).alerts
        if alert.kind == "failure" and alert.delivered
    }


def _describe(run: QualityRun, check: CheckResult) -> str:
    window = RunDetails.of(run.details).window_label or run.window_start.isoformat()
    if check.kind == "features":
        return (
            f"{check.label}: {', '.join(check.drifted_features) or 'no feature'} drifted "
            f"(PSI above {check.warn_below:g}; {window}, {run.trigger} run #{run.id})"
        )
    worst = min(check.fields, key=lambda f: f.present)
    return (
        f"{check.label}: {percent(check.coverage or 0.0)} of {check.total} trades complete "
        f"(threshold {check.threshold:g}%, {window}, {run.trigger} run #{run.id}); "
        f"worst field {worst.name} {worst.present}/{worst.total}"
    )


def plan_alerts(
    session: Session, run: QualityRun, settings: QualitySettings, now: datetime
) -> tuple[list[AlertRecord], list[str]]:
    """Decide the notices for `run`: (records to store, lines to post)."""
    previous = _previous_statuses(session, run)
    cooldown_since = now - timedelta(minutes=settings.alert_cooldown_minutes)
    posted = _posted_recently(session, run, cooldown_since)
    records: list[AlertRecord] = []
    lines: list[str] = []
    for check in _checks(run).values():
        if check.status == CheckStatus.FAIL:
            log.warning("data quality check %s FAILED: %s", check.name, _describe(run, check))
            record = AlertRecord(check=check.name, kind="failure")
            if check.name in posted:
                record.suppressed = "cooldown"
            else:
                lines.append(f":x: FAILED {_describe(run, check)}")
            records.append(record)
            continue
        if check.status == CheckStatus.WARN:
            log.warning("data quality check %s is near its threshold: %s", check.name,
                        _describe(run, check))  # fmt: skip
        if previous.get(check.name) == CheckStatus.FAIL and check.status != CheckStatus.NO_DATA:
            log.info("data quality check %s recovered: %s", check.name, _describe(run, check))
            records.append(AlertRecord(check=check.name, kind="recovery"))
            lines.append(f":white_check_mark: RECOVERED {_describe(run, check)}")
    return records, lines


def _missed(run: QualityRun) -> tuple[list[AlertRecord], list[str]]:
    """The notice of a scheduled run made up for by the catch-up (it missed its 15:45 IST)."""
    if not RunDetails.of(run.details).missed:
        return [], []
    log.warning("the scheduled quality run for %s was missed; caught up", run.trading_date)
    line = (
        f":alarm_clock: MISSED the scheduled check of {run.trading_date} at 15:45 IST; "
        f"caught up by run #{run.id} ({run.status})"
    )
    return [AlertRecord(check="schedule", kind="missed")], [line]


def _notice(run: QualityRun, lines: list[str], settings: QualitySettings) -> Notice:
    """The message: what happened, the coverage of every check, links to the run and dashboard."""
    coverage = ", ".join(
        f"{c.label} {percent(c.coverage) if c.coverage is not None else 'n/a'}"
        for c in _checks(run).values()
    )
    base = settings.public_url.rstrip("/")
    body = [
        *lines,
        f"Coverage ({run.total_trades} trades): {coverage or 'not evaluated'}",
        f"Run: {base}/quality/runs/{run.id}?format=text",
        f"Dashboard: {base}/quality/dashboard",
    ]
    failing = any(line.startswith((":x:", ":alarm_clock:")) for line in lines)
    title = f"Optrade data quality: {run.trigger} run #{run.id} {run.status}"
    return Notice(title=title, body="\n".join(body), kind="failure" if failing else "success")


def dispatch_alerts(
    engine: Engine,
    run: QualityRun,
    *,
    settings: QualitySettings,
    notifier: Notifier | None,
    now: datetime,
) -> list[AlertRecord]:
    """Log and send the notices of a stored run, and record on the run what was sent."""
    records, lines = _missed(run)
    if run.status in EVALUATED:
        with session_scope(engine) as session:
            planned, planned_lines = plan_alerts(session, run, settings, now)
        records, lines = records + planned, lines + planned_lines
    error = None
    if lines:
        error = (notifier or Notifier([])).send(_notice(run, lines, settings))
    for record in records:
        if record.suppressed is None:
            record.delivered, record.error = error is None, error
    ready = _training_ready(run, settings, notifier)
    records += [ready] if ready else []
    if records:
        _record_alerts(engine, run, records)
    return records


def export_url(run: QualityRun, settings: QualitySettings, fmt: str = "parquet") -> str:
    return f"{settings.public_url.rstrip('/')}/quality/runs/{run.id}/trades?format={fmt}"


def _training_ready(
    run: QualityRun, settings: QualitySettings, notifier: Notifier | None
) -> AlertRecord | None:
    """A passing scheduled or re-check run certifies its trades: say so, with the export link."""
    if run.trigger not in TRAINING_TRIGGERS or run.status not in CERTIFYING:
        return None
    if not run.total_trades:
        return None
    url = export_url(run, settings)
    log.info("training_ready: run %s (%s) certifies %s trades", run.id, run.trading_date,
             run.total_trades)  # fmt: skip
    notice = Notice(
        title=f"training_ready: quality run #{run.id} ({run.trading_date}) {run.status}",
        body="\n".join(
            [
                f"run_id: {run.id}",
                f"trading_date: {run.trading_date}",
                f"trigger: {run.trigger}",
                f"trades: {run.total_trades}",
                f"export: {url}",
                f"csv: {export_url(run, settings, 'csv')}",
            ]
        ),  # fmt: skip
        kind="success",
    )
    error = (notifier or Notifier([])).send(notice)
    return AlertRecord(check="training", kind="training_ready", delivered=error is None,
                       error=error)  # fmt: skip


def _record_alerts(engine: Engine, run: QualityRun, records: list[AlertRecord]) -> None:
    """Store on the run (row and object) what was posted for it."""
    with session_scope(engine) as session:
        stored = session.get(QualityRun, run.id)
        if stored is not None:
            details = RunDetails.of(stored.details)
            details.alerts = records
            stored.details = details.stored()
    details = RunDetails.of(run.details)
    details.alerts = records
    run.details = details.stored()
