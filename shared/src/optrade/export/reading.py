"""Read-only access for long analytical reads (exports, performance) that must not block writers,
and which trades an export holds: a `TradeWindow` (the training export) or the id ranges a
quality run counted (`CountedTrades`, the certified export)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Engine,
    Integer,
    String,
    bindparam,
    create_engine,
    false,
    or_,
)
from sqlalchemy.pool import NullPool

from optrade.db.models import Trade
from optrade.db.types import UTCDateTime
from optrade.domain import TradeWindow


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


def window_sql(
    window: TradeWindow, alias: str
) -> tuple[list[str], list[BindParameter[Any]], dict[str, Any]]:
    """The window's `closed_at` and model conditions as SQL text on `alias`, for raw queries."""
    clauses: list[str] = []
    binds: list[BindParameter[Any]] = []
    values: dict[str, Any] = {}
    for name, op, column, value, type_ in (
        ("closed_from", ">=", "closed_at", window.start, UTCDateTime()),
        ("closed_to", "<", "closed_at", window.end, UTCDateTime()),
        ("underlying", "=", "underlying", window.underlying, String()),
        ("model_version", "=", "model_version", window.model_version, String()),
        ("mode", "=", "mode", window.mode, String()),
    ):
        if value is not None:
            clauses.append(f"{alias}.{column} {op} :{name}")
            binds.append(bindparam(name, type_=type_))
            values[name] = value
    return clauses, binds, values


def trade_conditions(window: TradeWindow) -> Sequence[ColumnElement[bool]]:
    """The window as SQL conditions on the trade table's `closed_at`."""
    return window.conditions(Trade.__table__.c)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class CountedTrades:
    """Trades by id: the inclusive `(low, high)` id ranges a quality run counted."""

    ranges: tuple[tuple[int, int], ...]

    @property
    def count(self) -> int:
        return sum(high - low + 1 for low, high in self.ranges)


Selection = TradeWindow | CountedTrades


def selection_sql(
    selection: Selection, alias: str
) -> tuple[list[str], list[BindParameter[Any]], dict[str, Any]]:
    """The selection as SQL text conditions on `alias`, for raw queries."""
    if isinstance(selection, TradeWindow):
        return window_sql(selection, alias)
    if not selection.ranges:
        return ["1 = 0"], [], {}
    parts: list[str] = []
    binds: list[BindParameter[Any]] = []
    values: dict[str, Any] = {}
    for i, (low, high) in enumerate(selection.ranges):
        parts.append(f"{alias}.id BETWEEN :id_low_{i} AND :id_high_{i}")
        binds += [bindparam(f"id_{end}_{i}", type_=Integer()) for end in ("low", "high")]
        values |= {f"id_low_{i}": low, f"id_high_{i}": high}
    return [f"({' OR '.join(parts)})"], binds, values


def selection_conditions(selection: Selection) -> Sequence[ColumnElement[bool]]:
    """The selection as SQL conditions on the trade table."""
    if isinstance(selection, TradeWindow):
        return trade_conditions(selection)
    if not selection.ranges:
        return [false()]
    trade_id = Trade.__table__.c.id  # type: ignore[attr-defined]
    return [or_(*(trade_id.between(low, high) for low, high in selection.ranges))]
