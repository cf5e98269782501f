"""The one place the Celery configuration and the daily schedule live.

The crontab fires Mon-Fri at 15:45 Asia/Kolkata; NSE holidays are skipped by the task itself (it
records a `skipped` run), so the schedule needs no holiday list and a holiday is visible in the
run history rather than silently absent. The check that stores a trading date's run queues the
snapshot backfill of that date right away (`celery_app.follow_with_backfill`), which repairs what
it can and checks the date again (a `backfill` run beside the scheduled one: coverage before and
after); a caught-up check queues it too.
"""

from __future__ import annotations

from typing import Any

from celery.schedules import crontab

from quality_service.schedule import DAILY_RUN_AT
from quality_service.settings import CelerySettings, get_quality_settings

TIMEZONE = "Asia/Kolkata"
DAILY_RUN_WEEKDAYS = "mon-fri"
# Beat catches up a daily run it missed while down if it restarts within this many seconds of
# 15:45 (it needs its schedule file for that); start-up catch-up covers longer outages.
CRON_STARTING_DEADLINE_S = 18 * 3600

RUN_SCHEDULED_TASK = "quality.run_scheduled"
BACKFILL_TASK = "quality.backfill_and_recheck"
RUN_MANUAL_TASK = "quality.run_manual"
CATCH_UP_TASK = "quality.catch_up"
CHECK_TASKS = (RUN_SCHEDULED_TASK, RUN_MANUAL_TASK, CATCH_UP_TASK)
BEAT_SCHEDULER = "quality_service.beat.LockedScheduler"
TRAINING_TASK = "quality.train_due"


def beat_schedule() -> dict[str, dict[str, Any]]:
    return {
        "daily-quality-check": {
            "task": RUN_SCHEDULED_TASK,
            "schedule": crontab(
                hour=DAILY_RUN_AT.hour,
                minute=DAILY_RUN_AT.minute,
                day_of_week=DAILY_RUN_WEEKDAYS,
            ),
        },
        # QUALITY_TRAINING_COMMAND on the day's passing scheduled run (a no-op when unset).
        "end-of-day-training": {
            "task": TRAINING_TASK,
            "schedule": crontab(
                hour=(at := get_quality_settings().training_at).hour,
                minute=at.minute,
                day_of_week=DAILY_RUN_WEEKDAYS,
            ),
        },
    }


def time_limits(settings: CelerySettings) -> dict[str, dict[str, int]]:
    """Soft and hard time limit of every task, by task name (Celery's `task_annotations`)."""
    check = {
        "soft_time_limit": settings.check_soft_time_limit_seconds,
        "time_limit": settings.check_time_limit_seconds,
    }
    backfill = {
        "soft_time_limit": settings.backfill_soft_time_limit_seconds,
        "time_limit": settings.backfill_time_limit_seconds,
    }
    # Training: the export and the command (stopped at QUALITY_TRAINING_TIMEOUT_SECONDS).
    training = {
        "soft_time_limit": settings.training_soft_time_limit_seconds,
        "time_limit": settings.training_time_limit_seconds,
    }
    return {name: dict(check) for name in CHECK_TASKS} | {
        BACKFILL_TASK: backfill,
        TRAINING_TASK: training,
    }


def transport_options(settings: CelerySettings) -> dict[str, Any]:
    """Redis hands an unacknowledged message to another worker after `visibility_timeout`: it
    must outlast any task's hard limit, or a long task would run twice at once. (kombu's SQLite
    transport has no such timeout and refuses the option.)"""
    if settings.broker_url.startswith(("redis://", "rediss://")):
        return {"visibility_timeout": settings.visibility_timeout_seconds}
    return {}


def celery_config(settings: CelerySettings) -> dict[str, Any]:
    """Celery settings for the worker, beat and any producer."""
    return {
        "broker_url": settings.broker_url,
        "result_backend": settings.result_backend,
        "task_default_queue": settings.queue,
        "timezone": TIMEZONE,
        "enable_utc": True,
        "beat_schedule": beat_schedule(),
        "beat_cron_starting_deadline": CRON_STARTING_DEADLINE_S,
        # A task is acknowledged after it ran, and given back if its worker dies: the runs are
        # idempotent, so a redelivery is harmless and a lost run is not.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_expires": 7 * 86400,
        "broker_connection_retry_on_startup": True,
        "task_annotations": time_limits(settings),
        "broker_transport_options": transport_options(settings),
        "beat_scheduler": BEAT_SCHEDULER,
        "beat_max_loop_interval": settings.beat_lock_refresh_seconds,
        # Logging is configured by `task_context` (JSON through optrade.observability).
        "worker_hijack_root_logger": False,
    }
