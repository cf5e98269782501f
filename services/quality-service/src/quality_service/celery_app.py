"""The quality service's Celery app: `celery -A quality_service.celery_app worker|beat`.

Tasks are thin wrappers that take primitives and call the plain functions of `runs`; the
configuration and the schedule live in `celeryconfig`. Worker and beat start-up each send one
catch-up task (the database guard makes the pair harmless), so a daily run missed while
everything was down is made up for as soon as the service is back.
"""

from __future__ import annotations

import logging
import sys
import time
from datetime import date
from typing import Any

import httpx
from celery import Celery, Task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import beat_init, worker_init, worker_ready, worker_shutdown
from sqlalchemy.exc import IntegrityError

from optrade.calendar import is_trading_day
from optrade.domain import utcnow
from optrade.settings import (
    ConfigurationError,
    check_production_settings,
    get_app_settings,
    get_database_settings,
)
from quality_service import backfill, history, runs, sessions, task_context, training
from quality_service.celeryconfig import (
    BACKFILL_TASK,
    CATCH_UP_TASK,
    RUN_MANUAL_TASK,
    RUN_SCHEDULED_TASK,
    TRAINING_TASK,
    celery_config,
)
from quality_service.schedule import slot_date
from quality_service.schemas import RunStatus
from quality_service.settings import (
    CelerySettings,
    check_production_celery,
    get_celery_settings,
    get_quality_settings,
)
from quality_service.worker import resources

log = logging.getLogger(__name__)


def create_celery_app(settings: CelerySettings | None = None) -> Celery:
    """A Celery app configured from settings when first used (nothing is read at import)."""
    celery = Celery("quality_service")
    celery.add_defaults(lambda: celery_config(settings or get_celery_settings()))
    return celery


class QualityTask(Task):  # type: ignore[misc]
    """Acknowledged after it ran; interrupted at its soft time limit and then retried once.

    The limits are per task (`celeryconfig.time_limits`); the retry runs the same arguments, so
    a backfill batch resumes after the last id it was given, not from the start.
    """

    acks_late = True
    reject_on_worker_lost = True
    autoretry_for = (SoftTimeLimitExceeded,)
    max_retries = 1
    default_retry_delay = 2


app = create_celery_app()
app.Task = QualityTask
TASK_OPTIONS: dict[str, Any] = {"base": QualityTask}
assert task_context.REQUEST_ID_HEADER  # connects the request-id and logging signals


@app.task(name=RUN_SCHEDULED_TASK, **TASK_OPTIONS)
def run_scheduled(trading_date: str | None = None) -> int | None:
    """Beat's daily task: the cron slot just reached, every missed date before it, re-checks.

    With `trading_date`, exactly that date's scheduled check (an operator's or a test's trigger).
    """
    if trading_date:
        day = date.fromisoformat(trading_date)
        outcome = runs.run_scheduled_check(resources.engine, day, notifier=resources.notifier())
        follow_with_backfill(outcome)
        return outcome.run.id
    outcomes = sessions.scheduled_tick(resources.engine, notifier=resources.notifier())
    for outcome in outcomes:
        follow_with_backfill(outcome)
    follow_with_training(outcomes)
    return outcomes[-1].run.id if outcomes else None


def follow_with_training(outcomes: list[runs.ScheduledOutcome]) -> None:
    """Queue the training task when a scheduled run was stored (caught up after 16:00 IST, it
    is due at once; otherwise beat's 16:00 task finds it)."""
    if not any(o.created and o.run.trigger == "scheduled" for o in outcomes):
        return
    if not get_quality_settings().training_command:
        return
    try:
        train_due.delay()
    except Exception:  # noqa: BLE001 - beat's 16:00 task will find the run
        log.exception("could not queue the training task")


@app.task(name=TRAINING_TASK, **TASK_OPTIONS)
def train_due() -> int:
    """Beat's 16:00 IST task: QUALITY_TRAINING_COMMAND once per due passing scheduled run."""
    done = training.train_due(resources.engine, notifier=resources.notifier())
    return len(done)


def follow_with_backfill(outcome: runs.ScheduledOutcome | None) -> None:
    """Queue the snapshot backfill of a trading date right after its scheduled check is stored.

    Only the check that created the day's run queues it (a duplicate trigger finds the run and
    queues nothing), and holidays have nothing to repair.
    """
    if outcome is None or not outcome.created or outcome.run.trading_date is None:
        return
    if outcome.run.status == RunStatus.SKIPPED or outcome.run.trigger != "scheduled":
        return
    try:
        backfill_and_recheck.delay(outcome.run.trading_date.isoformat())
    except Exception:  # noqa: BLE001 - the check is stored; a lost backfill is logged, not fatal
        log.exception("could not queue the backfill of %s", outcome.run.trading_date)


@app.task(name=RUN_MANUAL_TASK, **TASK_OPTIONS)
def run_manual(lookback_days: int = 1) -> int | None:
    run = runs.run_manual_check(
        resources.engine, lookback_days=lookback_days, notifier=resources.notifier()
    )
    return run.id


@app.task(name=BACKFILL_TASK, bind=True, **TASK_OPTIONS)
def backfill_and_recheck(
    self: Task, trading_date: str | None = None, after_id: int = 0, totals: dict | None = None
) -> int | None:
    """After the daily check: repair missing snapshots one batch per task, then re-check the date.

    Each task asks the order service (it owns the trades) for ONE bounded batch after `after_id`
    and queues the next batch with the running totals, so no task outlives its time limit and a
    retried or redelivered task resumes where the last one stopped. If a batch fails, the re-check
    still runs and its note says why. A date whose backfill already succeeded is not backfilled
    again (duplicate or redelivered task).
    """
    day = date.fromisoformat(trading_date) if trading_date else slot_date(utcnow())
    if not is_trading_day(day):
        log.info("%s is not an NSE trading day: no backfill re-check", day)
        return None
    done = history.find_backfill(resources.engine, day)
    if done is not None:
        log.info("the backfill of %s ran already (run %s)", day, done.id)
        return done.id
    report, next_after_id = _backfill_batch(after_id, totals or backfill.empty_totals())
    if next_after_id is not None:
        kwargs = {"trading_date": day.isoformat(), "after_id": next_after_id, "totals": report}
        self.apply_async(kwargs=kwargs)
        return None
    log.info("snapshot backfill of %s: %s", day, report)
    outcome = runs.run_backfill_check(resources.engine, day, report, notifier=resources.notifier())
    return outcome.run.id


def _backfill_batch(after_id: int, totals: dict[str, Any]) -> tuple[dict[str, Any], int | None]:
    """One batch added to `totals`, and the id to resume after (None: the backfill is over)."""
    settings = backfill.get_order_service_settings()
    try:
        report = backfill.request_batch(settings, after_id)
        totals = backfill.add_batch(totals, report)
        next_after_id = report["next_after_id"]
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:  # unreachable or garbled
        log.warning("snapshot backfill failed: %s", exc)
        return {**totals, "error": f"{type(exc).__name__}: {exc}"}, None
    if next_after_id is not None and totals["batches"] >= settings.backfill_max_batches:
        log.warning("snapshot backfill stopped after %s batches", totals["batches"])
        return totals, None
    return totals, None if next_after_id is None else int(next_after_id)


@app.task(name=CATCH_UP_TASK, **TASK_OPTIONS)
def catch_up() -> int | None:
    """Start-up: every missed trading date and due re-check; backfills once the order service
    answers (at start-up it may still be coming up)."""
    outcomes = sessions.run_due(resources.engine, notifier=resources.notifier())
    if any(o.created and o.run.trigger == "scheduled" for o in outcomes):
        backfill.wait_for_order_service(backfill.get_order_service_settings())
    for outcome in outcomes:
        follow_with_backfill(outcome)
    follow_with_training(outcomes)
    return outcomes[-1].run.id if outcomes else None


def declare_queues(celery: Celery, attempts: int = 5) -> None:
    """Create the task queues before worker or beat uses them, surviving a concurrent creator.

    kombu's SQLAlchemy transport (the serverless default broker) creates a queue row with a
    SELECT then an INSERT, guarded only within one process: a worker and a beat starting together
    can both INSERT, and the loser's IntegrityError is fatal to a worker. Here the loser just
    finds the row on its next attempt. On Redis a declaration is a no-op.
    """
    for attempt in range(1, attempts + 1):
        try:
            with celery.connection_for_write() as connection:
                for queue in celery.amqp.queues.values():
                    queue(connection.default_channel).declare()
            return
        except IntegrityError:
            if attempt == attempts:
                raise
            time.sleep(0.1 * attempt)


def _send_catch_up(sender: Any) -> None:
    if not get_quality_settings().catch_up_on_start:
        return
    try:
        sender.app.send_task(CATCH_UP_TASK)
    except Exception:  # noqa: BLE001 - start-up must not die because the broker hiccuped
        log.exception("could not send the start-up catch-up task")


def refuse_unsafe_production_settings() -> None:
    """Exit at worker/beat start on a setting production must not run with.

    Celery logs and swallows an ordinary exception raised by a signal handler, so this exits
    with the reason on stderr instead: a worker must not run half-configured.
    """
    try:
        app_settings = get_app_settings()
        check_production_settings(app_settings, get_database_settings())
        check_production_celery(app_settings, get_celery_settings())
    except ConfigurationError as exc:
        print(f"configuration error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from exc


@worker_init.connect
def _on_worker_init(sender: Any = None, **_: Any) -> None:
    refuse_unsafe_production_settings()
    declare_queues(sender.app)


@worker_ready.connect
def _on_worker_ready(sender: Any = None, **_: Any) -> None:
    _send_catch_up(sender)


@beat_init.connect
def _on_beat_init(sender: Any = None, **_: Any) -> None:
    refuse_unsafe_production_settings()
    try:
        declare_queues(sender.app)
    except Exception:  # noqa: BLE001 - beat can still send; the send will declare again
        log.exception("could not declare the task queues")
    _send_catch_up(sender)


@worker_shutdown.connect
def _on_worker_shutdown(**_: Any) -> None:
    resources.close()
