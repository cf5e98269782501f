"""The typed records the repository returns: a row of `order`, `position`, `trade` or `strategy`,
as stored.

Each shares its columns with its table through the data model both inherit (SQLModel's
"inherit from data models, never from table models"), so a column added to the table is a field
here too. Built from a row without validation (the database already holds valid values). A row
holding exactly the record's fields (a `SELECT` of the whole table, or an insert's stored values:
the order path's case) is set as the record's `__dict__` directly: pydantic's `model_construct`
looks up aliases and defaults field by field, which cost more than the statement's own result
processing for the 90-column position and the 140-column trade.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from sqlalchemy.engine import Row
from sqlmodel import SQLModel

from optrade.db.models import OrderFields, PositionFields, StrategyFields, TradeFields


class PositionRecord(PositionFields):
    id: int


class TradeRecord(TradeFields):
    id: int


class OrderRecord(OrderFields):
    id: int


class StrategyRecord(StrategyFields):
    id: int


Record = TypeVar("Record", bound=SQLModel)


_FIELDS: dict[type[SQLModel], frozenset[str]] = {}


def _fields(kind: type[SQLModel]) -> frozenset[str]:
    names = _FIELDS.get(kind)
    if names is None:
        names = _FIELDS[kind] = frozenset(kind.model_fields)
    return names


def record(kind: type[Record], row: Row[Any] | Mapping[str, Any]) -> Record:
    """The record of `kind` holding `row`'s columns: what `kind.model_construct(**row)` builds."""
    values = dict(row if isinstance(row, Mapping) else row._mapping)
    names = _fields(kind)
    if values.keys() != names or kind.__pydantic_post_init__:
        return kind.model_construct(**values)  # type: ignore[return-value]
    built: Record = kind.__new__(kind)
    object.__setattr__(built, "__dict__", values)
    object.__setattr__(built, "__pydantic_fields_set__", set(names))
    object.__setattr__(built, "__pydantic_extra__", None)
    object.__setattr__(built, "__pydantic_private__", None)
    return built


def updated(found: Record, **changes: Any) -> Record:
    """`found` with `changes` applied (what an UPDATE wrote), without reading the row again."""
    return found.model_copy(update=changes)
