"""The quality service's API: `uvicorn quality_service.main:create_app --factory`."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

import httpx
from fastapi import FastAPI
from kombu import Connection
from prometheus_client import REGISTRY

from optrade.app import build_app, database_ready
from optrade.calendar import coverage_warning, next_trading_day, previous_trading_day
from optrade.db.engine import create_db_engine
from optrade.domain import IST
from optrade.observability import configure_logging
from optrade.settings import check_production_settings, get_app_settings, get_database_settings
from quality_service.api.deps import READ_GUARD
from quality_service.api.routes import router
from quality_service.celery_app import create_celery_app
from quality_service.metrics import LatestRunCollector
from quality_service.notify import build_notifier
from quality_service.settings import (
    check_production_celery,
    get_celery_settings,
    get_quality_settings,
)

BROKER_TIMEOUT_S = 2.0


def broker_ready(app: FastAPI) -> None:
    """Readiness check: open (and close) one connection to the Celery broker."""
    with Connection(app.state.broker_url, connect_timeout=BROKER_TIMEOUT_S) as connection:
        connection.ensure_connection(
            max_retries=1, interval_start=0, interval_step=0, timeout=BROKER_TIMEOUT_S
        )


def warm_calendar() -> None:
    """Load the NSE calendar (the holidays library and its tables) once, off the request path."""
    today = datetime.now(IST).date()
    coverage_warning(today)
    previous_trading_day(today, regular_only=False)
    next_trading_day(today)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = get_app_settings()
    database = get_database_settings()
    check_production_settings(settings, database)
    check_production_celery(settings, get_celery_settings())
    configure_logging("quality", settings.log_level, settings.log_json)
    quality = get_quality_settings()
    app.state.engine = create_db_engine(database)
    app.state.broker_url = get_celery_settings().broker_url
    client = httpx.Client(timeout=httpx.Timeout(quality.webhook_timeout_seconds))
    app.state.notifier = build_notifier(quality, client)
    # The API only sends tasks (their outcome is a stored run): no result backend to open.
    producer = get_celery_settings().model_copy(update={"result_backend": "disabled://"})
    app.state.celery = create_celery_app(producer)
    app.state.quality_settings = quality
    collector = LatestRunCollector(app.state.engine)
    REGISTRY.register(collector)
    # The first /quality/status (or scrape) would otherwise pay for loading the holiday library.
    threading.Thread(target=warm_calendar, name="calendar-warm-up", daemon=True).start()
    try:
        yield
    finally:
        REGISTRY.unregister(collector)
        client.close()
        app.state.engine.dispose()


def create_app() -> FastAPI:
    app = build_app(
        service="quality",
        title="Optrade quality service",
        description=(
            "Daily completeness checks of the trade records; what each check counts is in the"
            " repository's services/quality-service/README.md."
        ),
        lifespan=lifespan,
        readiness={"database": database_ready, "broker": broker_ready},
        read_guard=READ_GUARD,
    )
    app.include_router(router)
    return app
