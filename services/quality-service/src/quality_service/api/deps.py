"""Request dependencies: engine, session, settings, notifier, and the run named in the path."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from celery import Celery
from fastapi import Depends, Path, Request
from sqlalchemy import Engine
from sqlmodel import Session

from optrade.db.models import QualityRun
from optrade.errors import NotFound
from optrade.security import read_key_guard
from quality_service.notify import Notifier
from quality_service.settings import QualitySettings, get_quality_settings


def get_engine(request: Request) -> Engine:
    return request.app.state.engine  # type: ignore[no-any-return]


EngineDep = Annotated[Engine, Depends(get_engine)]


def get_session(engine: EngineDep) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_settings(request: Request) -> QualitySettings:
    """The quality settings the app was started with (read once, in the lifespan)."""
    return request.app.state.quality_settings  # type: ignore[no-any-return]


SettingsDep = Annotated[QualitySettings, Depends(get_settings)]


def get_notifier(request: Request) -> Notifier:
    return request.app.state.notifier  # type: ignore[no-any-return]


NotifierDep = Annotated[Notifier, Depends(get_notifier)]


def get_producer(request: Request) -> Celery:
    """The Celery app the API sends tasks with (the worker's broker and queue)."""
    return request.app.state.celery  # type: ignore[no-any-return]


ProducerDep = Annotated[Celery, Depends(get_producer)]


def valid_run(run_id: Annotated[int, Path(ge=1)], session: SessionDep) -> QualityRun:
    run = session.get(QualityRun, run_id)
    if run is None:
        raise NotFound(f"quality run {run_id} not found")
    return run


RunDep = Annotated[QualityRun, Depends(valid_run)]


# Reads that expose a model's features (a run's certified export, /metrics): open while
# QUALITY_READ_API_KEY is unset, then only with that key (or API_KEY).
READ_GUARD = read_key_guard(lambda: get_quality_settings().read_api_key)
