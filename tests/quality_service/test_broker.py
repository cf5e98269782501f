"""The serverless default broker: a worker and a beat starting together must not crash on the
creation of the queue row (kombu's SQLAlchemy transport races there across processes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kombu.transport.sqlalchemy import Channel
from sqlalchemy.exc import IntegrityError

from quality_service.celery_app import create_celery_app, declare_queues
from quality_service.settings import CelerySettings

pytestmark = pytest.mark.filterwarnings(
    "ignore:The ``noload`` loader strategy is deprecated:sqlalchemy.exc.SADeprecationWarning"
)


def test_declaring_the_queue_survives_losing_the_creation_race(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker = f"sqla+sqlite:///{tmp_path / 'broker.db'}"
    celery = create_celery_app(CelerySettings(broker_url=broker, queue="race-test"))
    real = Channel._get_or_create
    calls: list[str] = []

    def lose_the_race_once(self: Channel, queue: str) -> Any:
        calls.append(queue)
        if len(calls) == 1:  # another process inserted the same queue name first
            raise IntegrityError("INSERT INTO kombu_queue", {}, Exception("UNIQUE constraint"))
        return real(self, queue)

    monkeypatch.setattr(Channel, "_get_or_create", lose_the_race_once)
    declare_queues(celery)

    assert len(calls) >= 2 and set(calls) == {"race-test"}  # failed once, then retried
    with celery.connection_for_write() as connection:
        channel = connection.default_channel
        assert channel.session.query(channel.queue_cls).filter_by(name="race-test").count() == 1
    celery.close()
