"""The quality service's Celery app: `celery -A quality_service.celery_app worker|beat`.

Tasks are thin wrappers that take primitives and call the plain functions of `runs`; the
configuration and the schedule live in `celeryconfig`. Worker and beat start-up each send one
catch-up task (the database guard makes the pair harmless), so a daily run missed while
everything was down is made up for as soon as the service is back.
"""

from __future__ import annotations

import logging
import time
from datetime import date
from typing import Any

from celery import Celery
from celery.signals import beat_init, worker_init, worker_ready, worker_shutdown
from sqlalchemy.exc import IntegrityError

from optrade.db.types import utcnow
from quality_service import backfill, runs
from quality_service.celeryconfig import (
    CATCH_UP_TASK,
    RUN_MANUAL_TASK,
    RUN_SCHEDULED_TASK,
    celery_config,
)
from quality_service.schedule import slot_date
from quality_service.settings import CelerySettings, get_celery_settings, get_quality_settings
from quality_service.worker import resources

log = logging.getLogger(__name__)


def create_celery_app(settings: CelerySettings | None = None) -> Celery:
    """A Celery app configured from settings when first used (nothing is read at import)."""
    celery = Celery("quality_service")
    celery.add_defaults(lambda: celery_config(settings or get_celery_settings()))
    return celery


app = create_celery_app()
TASK_OPTIONS: dict[str, Any] = {"acks_late": True, "reject_on_worker_lost": True}


@app.task(name=RUN_SCHEDULED_TASK, **TASK_OPTIONS)
def run_scheduled(trading_date: str | None = None) -> int | None:
    """Beat's daily task: the check for `trading_date` (default: the cron slot just reached)."""
    day = date.fromisoformat(trading_date) if trading_date else slot_date(utcnow())
    outcome = runs.run_scheduled_check(resources.engine, day, webhook=resources.webhook())
    return outcome.run.id


@app.task(name=RUN_MANUAL_TASK, **TASK_OPTIONS)
def run_manual(lookback_days: int = 1) -> int | None:
    run = runs.run_manual_check(
        resources.engine, lookback_days=lookback_days, webhook=resources.webhook()
    )
    return run.id


@app.task(name=backfill.BACKFILL_TASK, **TASK_OPTIONS)
def backfill_and_recheck(lookback_days: int = 1) -> int | None:
    """Repair missing snapshots through the order service, then check the window again."""
    backfill.request_backfill(backfill.get_order_service_settings())
    run = runs.run_manual_check(
        resources.engine, lookback_days=lookback_days, webhook=resources.webhook()
    )
    return run.id


@app.task(name=CATCH_UP_TASK, **TASK_OPTIONS)
def catch_up() -> int | None:
    outcome = runs.catch_up(resources.engine, webhook=resources.webhook())
    return outcome.run.id if outcome else None


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


@worker_init.connect
def _on_worker_init(sender: Any = None, **_: Any) -> None:
    declare_queues(sender.app)


@worker_ready.connect
def _on_worker_ready(sender: Any = None, **_: Any) -> None:
    _send_catch_up(sender)


@beat_init.connect
def _on_beat_init(sender: Any = None, **_: Any) -> None:
    try:
        declare_queues(sender.app)
    except Exception:  # noqa: BLE001 - beat can still send; the send will declare again
        log.exception("could not declare the task queues")
    _send_catch_up(sender)


@worker_shutdown.connect
def _on_worker_shutdown(**_: Any) -> None:
    resources.close()
