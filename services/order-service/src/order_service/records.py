"""The typed records the repository returns: a row of `order`, `position` or `trade`, as stored.

Each shares its columns with its table through the data model both inherit (SQLModel's
"inherit from data models, never from table models"), so a column added to the table is a field
here too. Built from a row without validation (the database already holds valid values).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from sqlalchemy.engine import Row
from sqlmodel import SQLModel

from optrade.db.models import OrderFields, PositionFields, TradeFields


class PositionRecord(PositionFields):
    id: int


class TradeRecord(TradeFields):
    id: int


class OrderRecord(OrderFields):
    id: int


Record = TypeVar("Record", bound=SQLModel)


def record(kind: type[Record], row: Row[Any] | Mapping[str, Any]) -> Record:
    """The record of `kind` holding `row`'s columns."""
    values = row if isinstance(row, Mapping) else row._mapping
    return kind.model_construct(**values)  # type: ignore[return-value]


def updated(found: Record, **changes: Any) -> Record:
    """`found` with `changes` applied (what an UPDATE wrote), without reading the row again."""
    return found.model_copy(update=changes)
