"""The write path's statements: SQLAlchemy Core, no ORM unit of work.

Opening is one `INSERT ... ON CONFLICT DO NOTHING RETURNING`: no row back means a concurrent or
earlier request holds the same `idempotency_key` or `client_order_id` (the unique constraints),
and the caller reads that winner once. Closing takes its lots with one conditional UPDATE
(`... WHERE quantity_open >= :lots`, which PostgreSQL row-locks and SQLite serializes with
`BEGIN IMMEDIATE`) and inserts the trade the same way, in one transaction. Settlement (a sync
background path) takes lots with the same UPDATE through its session.

Enum members are written as their values: the drivers do not agree on how to adapt a `StrEnum`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import Table, bindparam, case, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlmodel import Session

from optrade.db.engine import autocommit
from optrade.db.models import Position, Trade, carried_trade_fields
from optrade.db.types import UTCDateTime
from optrade.domain import PositionStatus, utcnow
from optrade.errors import Conflict, NotFound

POSITION: Table = Position.__table__  # type: ignore[attr-defined]
TRADE: Table = Trade.__table__  # type: ignore[attr-defined]
CARRIED = tuple(carried_trade_fields())

# Statements built once, executed with parameters: building one per request (values inlined)
# cost more CPU in cache-key generation and coercion than the database round trip itself.
_INSERT_UNLESS_TAKEN = {
    (dialect.__name__.rsplit(".", 1)[-1], table.name): dialect.insert(table)
    .on_conflict_do_nothing()
    .returning(*table.c)
    for dialect in (postgresql, sqlite)
    for table in (POSITION, TRADE)
}
_POSITION_BY_ID = select(POSITION).where(POSITION.c.id == bindparam("p_id"))
_POSITION_BY = {
    column: select(POSITION).where(POSITION.c[column] == bindparam("p_value"))
    for column in ("idempotency_key", "client_order_id")
}
_TRADE_BY_CLOSE_KEY = select(TRADE).where(TRADE.c.close_idempotency_key == bindparam("p_key"))
_OPEN_LOTS = select(POSITION.c.quantity_open).where(POSITION.c.id == bindparam("p_id"))
_CLOSES_ALL = POSITION.c.quantity_open == bindparam("p_lots")
# Parameter names never equal a column's: an UPDATE would read such a key as `SET column = ...`.
_TAKE_LOTS = (
    update(POSITION)
    .where(
        POSITION.c.id == bindparam("p_id"),
        POSITION.c.status == PositionStatus.OPEN.value,
        POSITION.c.quantity_open >= bindparam("p_lots"),
    )
    .values(
        quantity_open=POSITION.c.quantity_open - bindparam("p_lots"),
        status=case((_CLOSES_ALL, PositionStatus.CLOSED.value), else_=POSITION.c.status),
        closed_at=case(
            (_CLOSES_ALL, bindparam("p_closed_at", type_=UTCDateTime())),
            else_=POSITION.c.closed_at,
        ),
        updated_at=bindparam("p_now", type_=UTCDateTime()),
    )
)
# What a close changes of the position; the rest of it is as read before the close.
_TAKEN = ("quantity_open", "status", "closed_at", "updated_at")
_TAKE_LOTS_RETURNING = _TAKE_LOTS.returning(*(POSITION.c[name] for name in _TAKEN))


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v.value if isinstance(v, Enum) else v for k, v in values.items()}


async def _insert_unless_taken(
    connection: AsyncConnection, table: Table, values: dict[str, Any]
) -> Row[Any] | None:
    """`INSERT ... ON CONFLICT DO NOTHING RETURNING *`: the row, or None when a unique key is
    taken."""
    statement = _INSERT_UNLESS_TAKEN[(connection.dialect.name, table.name)]
    return (await connection.execute(statement, _plain(values))).first()


async def insert_position(engine: AsyncEngine, values: dict[str, Any]) -> Row[Any] | None:
    """The stored position, or None when its idempotency key or client_order_id is taken."""
    values = {"status": PositionStatus.OPEN.value, "updated_at": utcnow(), **values}
    async with autocommit(engine).begin() as connection:
        return await _insert_unless_taken(connection, POSITION, values)


async def read_position(engine: AsyncEngine, position_id: int) -> Row[Any]:
    """The position as stored now, or a 404 naming its id."""
    found = await _first(engine, _POSITION_BY_ID, {"p_id": position_id})
    if found is None:
        raise NotFound(f"position {position_id} does not exist")
    return found


async def position_by(engine: AsyncEngine, column: str, value: str) -> Row[Any] | None:
    """The position whose unique `column` (idempotency_key, client_order_id) is `value`."""
    return await _first(engine, _POSITION_BY[column], {"p_value": value})


async def trade_by_close_key(engine: AsyncEngine, key: str) -> Row[Any] | None:
    """The trade a close with this Idempotency-Key recorded, if any."""
    return await _first(engine, _TRADE_BY_CLOSE_KEY, {"p_key": key})


async def _first(engine: AsyncEngine, query: Any, params: dict[str, Any]) -> Row[Any] | None:
    async with autocommit(engine).connect() as connection:
        return (await connection.execute(query, params)).first()


def _take_params(position_id: int, lots: int, closed_at: datetime) -> dict[str, Any]:
    return {"p_id": position_id, "p_lots": lots, "p_closed_at": closed_at, "p_now": utcnow()}


def take_lots(session: Session, position_id: int, lots: int | None, closed_at: datetime) -> int:
    """Take `lots` (default: all that is open) off the position in one conditional UPDATE, in
    the session's transaction; 409 when they are no longer open. Closes it when none are left."""
    connection = session.connection()
    if lots is None:
        lots = connection.execute(_OPEN_LOTS, {"p_id": position_id}).scalar_one() or 0
        if lots == 0:
            raise Conflict(f"position {position_id} is already closed")
    result = connection.execute(_TAKE_LOTS, _take_params(position_id, lots, closed_at))
    if result.rowcount != 1:
        raise _closed_concurrently(position_id, lots)
    return lots


def _closed_concurrently(position_id: int, lots: int) -> Conflict:
    return Conflict(
        f"quantity: {lots} lots are no longer open on position {position_id} (closed concurrently)"
    )


class CloseKeyTaken(Exception):
    """The trade's close Idempotency-Key is already stored: this close is a retry (or a reuse)."""


async def record_close(
    engine: AsyncEngine,
    position: Row[Any],
    lots: int | None,
    closed_at: datetime,
    closing: Callable[[int], dict[str, Any]],
) -> tuple[Row[Any], dict[str, Any]]:
    """Take the lots and insert the trade in one transaction: (trade, position after).

    `lots` None closes what is open; the count read with `position` is tried first, and only when
    a concurrent partial close took some is the position read again inside the transaction.
    `closing(lots)` gives the trade's own columns. Raises `CloseKeyTaken` (the transaction rolled
    back, lots returned) when the trade's key is taken.
    """
    async with engine.begin() as connection:
        taken = lots if lots is not None else position.quantity_open
        changed = await _take(connection, position.id, taken, closed_at)
        if changed is None and lots is None:  # a concurrent partial close: take what is left
            taken = await _open_lots(connection, position.id)
            changed = await _take(connection, position.id, taken, closed_at)
        if changed is None:
            raise _closed_concurrently(position.id, taken)
        values = {name: getattr(position, name) for name in CARRIED}
        values |= {"position_id": position.id, "lots": taken, **closing(taken)}
        trade = await _insert_unless_taken(connection, TRADE, values)
        if trade is None:
            raise CloseKeyTaken
    return trade, {**position._mapping, **changed._mapping}


async def _take(
    connection: AsyncConnection, position_id: int, lots: int, closed_at: datetime
) -> Row[Any] | None:
    if lots <= 0:
        raise Conflict(f"position {position_id} is already closed")
    params = _take_params(position_id, lots, closed_at)
    return (await connection.execute(_TAKE_LOTS_RETURNING, params)).first()


async def _open_lots(connection: AsyncConnection, position_id: int) -> int:
    return int((await connection.execute(_OPEN_LOTS, {"p_id": position_id})).scalar_one() or 0)
