"""Request dependencies: engine, session, settings, webhook, and the run named in the path."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Path, Request
from sqlalchemy import Engine
from sqlmodel import Session

from optrade.db.models import QualityRun
from optrade.errors import NotFound
from quality_service.alerts import Webhook
from quality_service.settings import QualitySettings


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


def get_webhook(request: Request) -> Webhook | None:
    return request.app.state.webhook  # type: ignore[no-any-return]


WebhookDep = Annotated[Webhook | None, Depends(get_webhook)]


def valid_run(run_id: Annotated[int, Path(ge=1)], session: SessionDep) -> QualityRun:
    run = session.get(QualityRun, run_id)
    if run is None:
        raise NotFound(f"quality run {run_id} not found")
    return run


RunDep = Annotated[QualityRun, Depends(valid_run)]
