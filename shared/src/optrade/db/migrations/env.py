"""Alembic environment: the URL comes from the caller or from DATABASE_URL settings."""

from __future__ import annotations

from alembic import context
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


def run_migrations_online() -> None:
    url = _url()
    engine = create_db_engine(url)
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                render_as_batch=is_sqlite(url),
                compare_type=True,
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
