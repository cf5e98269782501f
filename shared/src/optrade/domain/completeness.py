"""When a trade counts as a complete record: one SQL predicate for every reader that asks.

The quality checks grade each group of fields with it, the performance report counts complete
trades with it, and the export may filter on it; so they can never disagree about a trade.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import ColumnElement, and_, func, literal_column, or_

from optrade.domain.snapshot import RECORD_COLUMNS
from optrade.domain.vocabulary import EXPIRED, SnapshotSource

JSON_OBJECT_COLUMNS = frozenset({"features_snapshot"})


def present(column: Any, dialect: str) -> ColumnElement[bool]:
    """SQL that is true when `column` holds a value (never NULL, so NOT of it is safe).

    `features_snapshot` counts only as a non-empty JSON object: SQL NULL, JSON `null` (what the
    JSON type stores for Python None), `{}` and non-objects are missing. PostgreSQL compares JSONB
    values; SQLite normalises the text with json() first, so `{ }` is empty too.
    """
    if column.name not in JSON_OBJECT_COLUMNS:
        return column.is_not(None)  # type: ignore[no-any-return]
    if dialect == "postgresql":
        # JSONB orders every object above every array, scalar and null, and an object with more
        # pairs above one with fewer: "> '{}'" is exactly "a non-empty object", in one comparison
        # (jsonb_typeof plus "<> '{}'" cost a third of the quality check's time at 1M trades).
        typed = column > literal_column("'{}'::jsonb")
    else:
        typed = and_(func.json_type(column) == "object", func.json(column) != "{}")
    # NULL AND x is NULL, not false, when x is true; testing NULL first keeps it two-valued.
    return and_(column.is_not(None), typed)


def expired_at_settlement(columns: Mapping[str, Any]) -> ColumnElement[bool]:
    """The trade was closed by expiry settlement, where the exit IV is undefined by design."""
    return and_(
        columns["exit_source"] == SnapshotSource.SETTLEMENT.value,
        columns["exit_error"] == EXPIRED,
    )


def field_present(columns: Mapping[str, Any], name: str, dialect: str) -> ColumnElement[bool]:
    """`present`, except that a settled trade's exit IV counts as present: volatility has no
    meaning at expiry (its exit delta, gamma, theta and vega are still required)."""
    settles = {"exit_source", "exit_error"} <= set(columns.keys())  # a trade table has both
    if name == "exit_iv" and settles:
        return or_(present(columns[name], dialect), expired_at_settlement(columns))
    return present(columns[name], dialect)


def complete_record(
    columns: Mapping[str, Any], dialect: str, fields: Iterable[str] = RECORD_COLUMNS
) -> ColumnElement[bool]:
    """SQL that is true when every one of `fields` is present in the row (`field_present`).

    `columns` is a table's column collection (`Trade.__table__.c`); `fields` defaults to the whole
    training record (`RECORD_COLUMNS`), and a quality check passes its own group of fields.
    """
    return and_(*(field_present(columns, name, dialect) for name in fields))
