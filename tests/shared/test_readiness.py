"""/readyz tells the truth about the database: it answers 503 naming the migrations it lacks."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from optrade.db.migrate import _scripts, upgrade
from tests.conftest import TEST_API_KEY, _create_postgres_database, _drop_postgres_database
from tests.conftest import _postgres_base as postgres_base
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.slow

REVISIONS = [s.revision for s in reversed(list(_scripts().walk_revisions()))]  # oldest first


@pytest.fixture(scope="module")
def empty_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database no migration has touched (PostgreSQL in CI, else SQLite)."""
    base = postgres_base()
    if base:
        url = _create_postgres_database(base)
        yield url
        _drop_postgres_database(base, url)
    else:
        yield f"sqlite:///{tmp_path_factory.mktemp('empty') / 'optrade.db'}"


@pytest.fixture(scope="module")
def services(empty_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    tmp = tmp_path_factory.mktemp("ready")
    common = {"API_KEY": TEST_API_KEY, "APP_ENV": "test", "DATABASE_URL": empty_database}
    named = {
        "order": ServiceProcess("order_service.main:create_app", env=common),
        "quality": ServiceProcess(
            "quality_service.main:create_app",
            env={
                **common,
                "CELERY_BROKER_URL": f"sqla+sqlite:///{tmp / 'broker.db'}",
                "CELERY_RESULT_BACKEND": f"db+sqlite:///{tmp / 'results.db'}",
            },
        ),
    }
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            for future in [pool.submit(p.start, 90.0) for p in named.values()]:
                future.result()
        yield named
    finally:
        for process in named.values():
            process.stop()


def _ready(process: ServiceProcess) -> httpx.Response:
    return httpx.get(f"{process.url}/readyz", timeout=30)


def test_readiness_follows_the_migrations(services: dict, empty_database: str) -> None:
    """Unmigrated: 503 naming every migration; one behind: 503 naming the head; at head: 200."""
    for name, process in services.items():
        answer = _ready(process)
        assert answer.status_code == 503, (name, answer.text)
        assert answer.headers["retry-after"]
        message = answer.json()["checks"]["database"]
        assert f"missing {', '.join(REVISIONS)}" in message, (name, message)

    upgrade(empty_database, REVISIONS[-2])
    for name, process in services.items():
        answer = _ready(process)
        assert answer.status_code == 503, (name, answer.text)
        message = answer.json()["checks"]["database"]
        assert f"missing {REVISIONS[-1]} " in message, (name, message)

    upgrade(empty_database)
    for name, process in services.items():
        answer = _ready(process)
        assert answer.status_code == 200, (name, answer.text)
        assert answer.json()["checks"]["database"] == "ok"


def test_the_revision_list_is_the_chain_on_disk() -> None:
    """The expected head is the newest file in versions/, so a new migration moves it."""
    versions = Path(_scripts().dir) / "versions"
    on_disk = sorted(p.name.split("_", 1)[0] for p in versions.glob("[0-9]*.py"))
    assert on_disk == REVISIONS
