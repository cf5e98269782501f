"""Alembic environment: the URL comes from the caller or from DATABASE_URL settings."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import Connection
from sqlmodel import SQLModel

import optrade.db.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from optrade.db.engine import create_db_engine, is_sqlite, normalize_url
from optrade.settings import get_database_settings

config = context.config
target_metadata = SQLModel.metadata


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url") or get_database_settings().database_url
    return normalize_url(url)


def run_migrations_offline() -> None:
    url = _url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=is_sqlite(url),
    )
    with context.begin_transaction():
        context.run_migrations()


def _pragma(connection: Connection, statement: str) -> list[Any]:
    """Run a pragma on the raw SQLite connection (autocommit: no transaction around it)."""
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        return list(cursor.execute(statement).fetchall())
    finally:
        cursor.close()


def run_migrations_online() -> None:
    url = _url()
    engine = create_db_engine(url)
    sqlite = is_sqlite(url)
    try:
        with engine.connect() as connection:
            if sqlite:
                # A batch migration recreates a table (copy, DROP, rename); with foreign keys
                # enforced, dropping a table that other rows reference fails. SQLite honours
                # this pragma only outside a transaction; integrity is checked after.
                _pragma(connection, "PRAGMA foreign_keys=OFF")
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                render_as_batch=sqlite,
                compare_type=True,
            )
            with context.begin_transaction():
                context.run_migrations()
            if sqlite:
                broken = _pragma(connection, "PRAGMA foreign_key_check")
                if broken:
                    raise RuntimeError(f"foreign keys broken by the migration: {broken[:5]}")
                _pragma(connection, "PRAGMA foreign_keys=ON")
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
