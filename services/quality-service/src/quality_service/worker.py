"""Per-process resources of the Celery worker: one engine and one notifier, made lazily."""

from __future__ import annotations

import httpx
from sqlalchemy import Engine

from optrade.db.engine import create_db_engine
from optrade.settings import get_database_settings
from quality_service.notify import Notifier, build_notifier
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

    def notifier(self) -> Notifier:
        settings = get_quality_settings()
        if self._client is None:
            self._client = httpx.Client(timeout=httpx.Timeout(settings.webhook_timeout_seconds))
        return build_notifier(settings, self._client)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
        if self._client is not None:
            self._client.close()
            self._client = None


resources = WorkerResources()
