"""Per-process resources of the Celery worker: one engine and one webhook client, made lazily."""

from __future__ import annotations

import httpx
from sqlalchemy import Engine

from optrade.db.engine import create_db_engine
from optrade.settings import get_database_settings
from quality_service.alerts import Webhook
from quality_service.settings import get_quality_settings


class WorkerResources:
    """Created on first use in the worker process, closed on worker shutdown."""

    def __init__(self) -> None:
        self._engine: Engine | None = None
        self._client: httpx.Client | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = create_db_engine(get_database_settings())
        return self._engine

    def webhook(self) -> Webhook | None:
        settings = get_quality_settings()
        if not settings.webhook_url:
            return None
        if self._client is None:
            self._client = httpx.Client(timeout=httpx.Timeout(settings.webhook_timeout_seconds))
        return Webhook(settings.webhook_url, self._client, attempts=settings.webhook_attempts)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
        if self._client is not None:
            self._client.close()
            self._client = None


resources = WorkerResources()
