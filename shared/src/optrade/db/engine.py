"""The one engine factory: PostgreSQL via psycopg 3, or SQLite as the embedded default."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlmodel import Session, create_engine

from optrade.settings import DatabaseSettings

POOL_RECYCLE_S = 1800


def normalize_url(url: str) -> str:
    """Use the psycopg 3 driver for plain `postgresql://` / `postgres://` URLs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _prepare_sqlite(engine: Engine) -> None:
    # pysqlite's own transaction handling starts transactions lazily and upgrades read locks to
    # write locks, which deadlocks concurrent writers; take the write lock up front instead.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _make_sqlite_directory(url: str) -> None:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def create_db_engine(settings: DatabaseSettings | str) -> Engine:
    """Create the process's engine; call once (in a lifespan) and share it."""
    if isinstance(settings, str):
        settings = DatabaseSettings(database_url=settings)
    url = normalize_url(settings.database_url)
    if is_sqlite(url):
        _make_sqlite_directory(url)
        engine = create_engine(
            url,
            echo=settings.database_echo,
            connect_args={"check_same_thread": False, "timeout": 30},
        )
        _prepare_sqlite(engine)
        return engine
    return create_engine(url, **_server_pool(settings))


def create_async_db_engine(settings: DatabaseSettings | str) -> AsyncEngine:
    """The asyncio engine of the same database (psycopg 3 async, or aiosqlite for SQLite), for
    request paths that should not hop to a worker thread; same pool policy as the sync engine."""
    if isinstance(settings, str):
        settings = DatabaseSettings(database_url=settings)
    url = normalize_url(settings.database_url)
    if is_sqlite(url):
        _make_sqlite_directory(url)
        engine = create_async_engine(
            url.replace("sqlite://", "sqlite+aiosqlite://", 1),
            echo=settings.database_echo,
            connect_args={"timeout": 30},
        )
        _prepare_sqlite(engine.sync_engine)
        return engine
    _remember_wide_statements()
    return create_async_engine(url, **_server_pool(settings))


@lru_cache(maxsize=4)  # one per live engine; a process has one or two
def autocommit(engine: AsyncEngine) -> AsyncEngine:
    """The engine for one-statement work on PostgreSQL: no BEGIN/COMMIT round trips around a
    single INSERT or SELECT. SQLite keeps its transactions (`BEGIN IMMEDIATE`, see above).
    Built once per engine (it shares the engine's pool)."""
    if engine.dialect.name == "sqlite":
        return engine
    return engine.execution_options(isolation_level="AUTOCOMMIT")


# psycopg converts a statement's `%(name)s` placeholders on every execute, and remembers the
# conversion (an LRU of 128) only for statements up to 4096 characters and 50 parameters, a
# guard against caching generated one-off SQL (psycopg discussion 628). The order path's two
# inserts are fixed statements of 54 and 89 parameters (a position and a trade, every snapshot
# column): converting them afresh was 7.7 % of an order round trip's CPU (issue 11's profile).
# psycopg has no setting for this; the limits are module constants read at each execute.
WIDE_STATEMENT_LENGTH = 16_384
WIDE_STATEMENT_PARAMS = 256


def _remember_wide_statements() -> None:
    from psycopg import _queries

    _queries.MAX_CACHED_STATEMENT_LENGTH = max(
        _queries.MAX_CACHED_STATEMENT_LENGTH, WIDE_STATEMENT_LENGTH
    )
    _queries.MAX_CACHED_STATEMENT_PARAMS = max(
        _queries.MAX_CACHED_STATEMENT_PARAMS, WIDE_STATEMENT_PARAMS
    )


def _server_pool(settings: DatabaseSettings) -> dict[str, Any]:
    return {
        "echo": settings.database_echo,
        # No pre-ping: a round trip on every checkout cost more than 3 % of an order's CPU
        # (issue 11's profile). A connection the server dropped fails the one request that uses
        # it with a disconnect error, which invalidates every pooled connection older than it
        # and answers 503 database_unavailable (retryable); the next checkout connects afresh.
        # Recycling bounds a connection's age under proxies that drop idle connections silently.
        "pool_recycle": POOL_RECYCLE_S,
        "pool_size": settings.database_pool_size,
        "max_overflow": settings.database_max_overflow,
    }


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
