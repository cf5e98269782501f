"""Request dependencies: the database session, the webhook, the stored run named in the path."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Path, Request
from sqlmodel import Session

from optrade.db.models import QualityRun
from optrade.errors import NotFound
from quality_service.alerts import Webhook


def get_session(request: Request) -> Iterator[Session]:
    with Session(request.app.state.engine, expire_on_commit=False) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_webhook(request: Request) -> Webhook | None:
    return request.app.state.webhook  # type: ignore[no-any-return]


WebhookDep = Annotated[Webhook | None, Depends(get_webhook)]


def valid_run(run_id: Annotated[int, Path(ge=1)], session: SessionDep) -> QualityRun:
    run = session.get(QualityRun, run_id)
    if run is None:
        raise NotFound(f"quality run {run_id} not found")
    return run


RunDep = Annotated[QualityRun, Depends(valid_run)]
