"""Failure and recovery notices: a WARNING log line always, a Slack-compatible webhook post when
QUALITY_WEBHOOK_URL is set.

The cooldown state is derived from the stored runs: each run records in `RunDetails.alerts` what
was posted for it, so "was this check's failure posted within the cooldown?" is a query over the
last few runs, and a restarted worker or a second API replica sees the same answer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import httpx
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from optrade.db.engine import session_scope
from optrade.db.models import QualityRun
from quality_service.report import percent
from quality_service.schemas import AlertRecord, CheckResult, CheckStatus, RunDetails, RunStatus
from quality_service.settings import QualitySettings

log = logging.getLogger(__name__)

EVALUATED = (RunStatus.PASS, RunStatus.WARN, RunStatus.FAIL)
_RETRYABLE_STATUS = {408, 425, 429, 500, 502, 503, 504}


class AlertDeliveryError(Exception):
    """The webhook did not accept the notice after every attempt."""


class Webhook:
    """Posts `{"text": ...}` to one URL with a bounded retry on transport errors, 429 and 5xx."""

    def __init__(
        self,
        url: str,
        client: httpx.Client,
        *,
        attempts: int = 3,
        backoff_s: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = url
        self.client = client
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.sleep = sleep

    def post(self, text: str) -> None:
        last = "no attempt made"
        for attempt in range(self.attempts):
            if attempt:
                self.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                response = self.client.post(self.url, json={"text": text})
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
                continue
            if response.is_success:
                return
            last = f"HTTP {response.status_code}"
            if response.status_code not in _RETRYABLE_STATUS:
                break
        raise AlertDeliveryError(f"webhook post failed after {attempt + 1} attempt(s): {last}")


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


def dispatch_alerts(
    engine: Engine,
    run: QualityRun,
    *,
    settings: QualitySettings,
    webhook: Webhook | None,
    now: datetime,
) -> list[AlertRecord]:
    """Log and post the notices of a stored run, and record on the run what was posted."""
    if run.status not in EVALUATED:
        return []
    with session_scope(engine) as session:
        records, lines = plan_alerts(session, run, settings, now)
    if not records:
        return []
    delivered, error = False, None
    if lines and webhook is not None:
        try:
            webhook.post("Optrade data quality\n" + "\n".join(lines))
            delivered = True
        except AlertDeliveryError as exc:
            error = str(exc)
            log.error("data quality alert not delivered: %s", exc)
    elif lines:
        error = "no webhook configured (QUALITY_WEBHOOK_URL)"
    for record in records:
        if record.suppressed is None:
            record.delivered, record.error = delivered, error
    _record_alerts(engine, run, records)
    return records


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
