"""A row's values as its table stores them, so an insert need not read the row back.

`as_stored(table, values)` answers every column of `table` (but `id`): a missing one gets its
column's default (else NULL), an enum its value, a number in a NUMERIC column is rounded half up
to the column's scale (the database is then sent the exact value it keeps; a zero loses its sign,
as NUMERIC has none), an instant is in UTC, an integer, float or boolean its Python type. What the
database would answer for the row is then these values (PostgreSQL and SQLite alike; a test reads
rows back on both and compares). JSON is the exception: PostgreSQL's JSONB orders an object's
keys its own way, so an insert still reads its JSON columns back (`Repository`).

Reading a 90-column position or a 140-column trade back cost more CPU than writing it (a column
description, a loader and a result processor per column, on every insert of the order path).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import Enum
from typing import Any

from sqlalchemy import BigInteger, Boolean, Float, Integer, Numeric, Table

from optrade.db.types import UTCDateTime

Convert = Callable[[Any], Any]


def _numeric(scale: int) -> Convert:
    quantum = Decimal(1).scaleb(-scale)

    def convert(value: Any) -> Decimal:
        number = value if isinstance(value, Decimal) else Decimal(repr(value))
        stored = number.quantize(quantum, rounding=ROUND_HALF_UP)
        return stored.copy_abs() if stored.is_zero() else stored

    return convert


def _instant(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime given where a timezone-aware one is required")
    return value.astimezone(UTC)


def plain(value: Any) -> Any:
    """An enum member as its value (the drivers do not agree on adapting a `StrEnum`)."""
    return value.value if isinstance(value, Enum) else value


def _converter(column: Any) -> Convert:
    kind = column.type
    if isinstance(kind, Numeric) and not isinstance(kind, Float):
        return _numeric(kind.scale or 0)
    if isinstance(kind, Float):
        return float
    if isinstance(kind, UTCDateTime):
        return _instant
    if isinstance(kind, Boolean):
        return bool
    if isinstance(kind, (Integer, BigInteger)):
        return int
    return plain  # strings, dates, JSON: an enum member is written as its value


def _default(column: Any) -> Callable[[], Any]:
    default = column.default
    if default is None:
        if column.server_default is not None:  # the database would fill it: we cannot know it
            raise TypeError(f"{column.table.name}.{column.name} has only a server default")
        return lambda: None
    if default.is_callable:
        return lambda: default.arg(None)
    return lambda: default.arg


_PLANS: dict[str, tuple[tuple[str, Convert, Callable[[], Any]], ...]] = {}


def _plan(table: Table) -> tuple[tuple[str, Convert, Callable[[], Any]], ...]:
    plan = _PLANS.get(table.name)
    if plan is None:
        plan = _PLANS[table.name] = tuple(
            (column.name, _converter(column), _default(column))
            for column in table.c
            if column.name != "id"
        )
    return plan


def as_stored(table: Table, values: dict[str, Any]) -> dict[str, Any]:
    """Every column of `table` but `id`, as the table stores `values` (see the module doc)."""
    unknown = values.keys() - table.c.keys()
    if unknown:
        raise KeyError(f"{table.name} has no column {sorted(unknown)}")
    stored: dict[str, Any] = {}
    for name, convert, default in _plan(table):
        value = values[name] if name in values else plain(default())
        stored[name] = None if value is None else convert(value)
    return stored


__all__ = ["as_stored", "plain"]
