"""Read-only access for long analytical reads (export, performance) that must not block writers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, Engine, String, bindparam, create_engine
from sqlalchemy.pool import NullPool

from optrade.db.models import Trade
from optrade.db.types import UTCDateTime


@lru_cache(maxsize=8)
def _plain_sqlite_engine(url: str) -> Engine:
    return create_engine(url, poolclass=NullPool, connect_args={"check_same_thread": False})


def reader_engine(engine: Engine) -> Engine:
    """The engine to stream a long read from.

    The shared SQLite engine opens every transaction with BEGIN IMMEDIATE (the write lock), which
    would stall every order for the length of an export; a plain pysqlite connection reads in
    autocommit mode instead, a WAL snapshot per statement that never blocks a writer.
    PostgreSQL reads never block writers, so its engine is used as it is.
    """
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return engine  # an in-memory database exists only behind its own engine
    return _plain_sqlite_engine(engine.url.render_as_string(hide_password=False))


@dataclass(frozen=True)
class TradeWindow:
    """Which closed trades a read covers: closed_at in [closed_from, closed_to), one model."""

    closed_from: datetime | None = None
    closed_to: datetime | None = None
    model_version: str | None = None

    def conditions(self) -> Sequence[ColumnElement[bool]]:
        table = Trade.__table__.c  # type: ignore[attr-defined]
        found: list[ColumnElement[bool]] = []
        if self.closed_from is not None:
            found.append(table.closed_at >= self.closed_from)
        if self.closed_to is not None:
            found.append(table.closed_at < self.closed_to)
        if self.model_version is not None:
            found.append(table.model_version == self.model_version)
        return found

    def sql_conditions(
        self, alias: str
    ) -> tuple[list[str], list[BindParameter[Any]], dict[str, Any]]:
        """The same window as SQL text on `alias`, with typed bind parameters, for raw queries."""
        clauses: list[str] = []
        binds: list[BindParameter[Any]] = []
        values: dict[str, Any] = {}
        for name, op, column, value, type_ in (
            ("closed_from", ">=", "closed_at", self.closed_from, UTCDateTime()),
            ("closed_to", "<", "closed_at", self.closed_to, UTCDateTime()),
            ("model_version", "=", "model_version", self.model_version, String()),
        ):
            if value is not None:
                clauses.append(f"{alias}.{column} {op} :{name}")
                binds.append(bindparam(name, type_=type_))
                values[name] = value
        return clauses, binds, values
