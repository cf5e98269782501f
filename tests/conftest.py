"""Test configuration: a real PostgreSQL / Redis when TEST_DATABASE_URL / TEST_REDIS_URL are set
(CI), the embedded default (SQLite, no broker server) otherwise."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from optrade.db.engine import create_db_engine, is_sqlite, normalize_url
from optrade.db.migrate import upgrade
from optrade.settings import reset_all_settings

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
NSE_SNAPSHOT_DIR = SHARED_DATA / "nse" / "option_chain"
NSE_HISTORY_DIR = SHARED_DATA / "nse" / "history"  # 358 gzip snapshots, 13-Oct..21-Nov-2025
INDIA_VIX_FILE = SHARED_DATA / "nse" / "india_vix" / "india_vix_daily_2012-01-02_to_2026-07-31.csv"
TEST_API_KEY = "test-api-key-0123456789abcdef"


@pytest.fixture(autouse=True)
def _fresh_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("API_KEY", TEST_API_KEY)
    monkeypatch.setenv("APP_ENV", "test")
    reset_all_settings()
    yield
    reset_all_settings()


def _create_postgres_database(base_url: str) -> str:
    """Create a throw-away database beside the one CI gave us, so test modules never collide."""
    url = make_url(normalize_url(base_url))
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_db_engine(url.render_as_string(hide_password=False))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def _drop_postgres_database(base_url: str, db_url: str) -> None:
    name = make_url(db_url).database
    admin = create_db_engine(normalize_url(base_url))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _postgres_base() -> str | None:
    base = os.environ.get("TEST_DATABASE_URL")
    return base if base and not is_sqlite(base) else None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Modules marked `both_databases` run twice when PostgreSQL is configured: the embedded
    default (SQLite, what `make run` uses) is then still proven by CI, not only on laptops."""
    if (
        "database_backend" in metafunc.fixturenames
        and metafunc.definition.get_closest_marker("both_databases")
        and _postgres_base()
    ):
        metafunc.parametrize(
            "database_backend", ["postgresql", "sqlite"], indirect=True, scope="module"
        )


@pytest.fixture(scope="module")
def database_backend(request: pytest.FixtureRequest) -> str:
    """`postgresql` when TEST_DATABASE_URL names one, else `sqlite` (or the parametrized one)."""
    return str(getattr(request, "param", "postgresql" if _postgres_base() else "sqlite"))


@pytest.fixture(scope="module")
def database_url(database_backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated, empty database for one test module (PostgreSQL in CI, else SQLite)."""
    base = _postgres_base()
    if database_backend == "postgresql" and base:
        url = _create_postgres_database(base)
        upgrade(url)
        yield url
        _drop_postgres_database(base, url)
    else:
        path = tmp_path_factory.mktemp("db") / "optrade.db"
        url = f"sqlite:///{path}"
        upgrade(url)
        yield url


@pytest.fixture(scope="module")
def engine(database_url: str) -> Iterator[Engine]:
    eng = create_db_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def api_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {TEST_API_KEY}"}


@pytest.fixture(scope="session")
def redis_url() -> str | None:
    return os.environ.get("TEST_REDIS_URL")


@pytest.fixture(scope="session")
def nse_snapshot_dir() -> Path:
    assert NSE_SNAPSHOT_DIR.is_dir(), f"NSE snapshots not found at {NSE_SNAPSHOT_DIR}"
    return NSE_SNAPSHOT_DIR
