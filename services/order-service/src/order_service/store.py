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

from sqlalchemy import Table, Update, case, literal, select, update
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


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v.value if isinstance(v, Enum) else v for k, v in values.items()}


def _insert_unless_taken(connection: AsyncConnection, table: Table, values: dict[str, Any]) -> Any:
    """`INSERT ... ON CONFLICT DO NOTHING RETURNING *` in the connection's dialect."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).values(_plain(values)).on_conflict_do_nothing().returning(*table.c)


async def insert_position(engine: AsyncEngine, values: dict[str, Any]) -> Row[Any] | None:
    """The stored position, or None when its idempotency key or client_order_id is taken."""
    values = {"status": PositionStatus.OPEN.value, "updated_at": utcnow(), **values}
    async with autocommit(engine).begin() as connection:
        result = await connection.execute(_insert_unless_taken(connection, POSITION, values))
        return result.first()


async def read_position(engine: AsyncEngine, position_id: int) -> Row[Any]:
    """The position as stored now, or a 404 naming its id."""
    found = await _first(engine, select(POSITION).where(POSITION.c.id == position_id))
    if found is None:
        raise NotFound(f"position {position_id} does not exist")
    return found


async def position_by(engine: AsyncEngine, column: str, value: str) -> Row[Any] | None:
    """The position whose unique `column` (idempotency_key, client_order_id) is `value`."""
    return await _first(engine, select(POSITION).where(POSITION.c[column] == value))


async def trade_by_close_key(engine: AsyncEngine, key: str) -> Row[Any] | None:
    """The trade a close with this Idempotency-Key recorded, if any."""
    return await _first(engine, select(TRADE).where(TRADE.c.close_idempotency_key == key))


async def _first(engine: AsyncEngine, query: Any) -> Row[Any] | None:
    async with autocommit(engine).connect() as connection:
        return (await connection.execute(query)).first()


def take_lots_statement(position_id: int, lots: int, closed_at: datetime) -> Update:
    """Take `lots` off an open position that still has them; closes it when none are left."""
    closes_all = POSITION.c.quantity_open == lots
    return (
        update(POSITION)
        .where(
            POSITION.c.id == position_id,
            POSITION.c.status == PositionStatus.OPEN.value,
            POSITION.c.quantity_open >= lots,
        )
        .values(
            quantity_open=POSITION.c.quantity_open - lots,
            status=case((closes_all, PositionStatus.CLOSED.value), else_=POSITION.c.status),
            closed_at=case(
                (closes_all, literal(closed_at, UTCDateTime())), else_=POSITION.c.closed_at
            ),
            updated_at=utcnow(),
        )
    )


def take_lots(session: Session, position_id: int, lots: int | None, closed_at: datetime) -> int:
    """Take `lots` (default: all that is open) off the position in one conditional UPDATE, in
    the session's transaction; 409 when they are no longer open."""
    connection = session.connection()
    if lots is None:
        query = select(POSITION.c.quantity_open).where(POSITION.c.id == position_id)
        lots = connection.execute(query).scalar_one() or 0
        if lots == 0:
            raise Conflict(f"position {position_id} is already closed")
    result = connection.execute(take_lots_statement(position_id, lots, closed_at))
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
) -> tuple[Row[Any], Row[Any]]:
    """Take the lots and insert the trade in one transaction: (trade, position after).

    `lots` None closes what is open; the count read with `position` is tried first, and only when
    a concurrent partial close took some is the position read again inside the transaction.
    `closing(lots)` gives the trade's own columns. Raises `CloseKeyTaken` (the
    transaction rolled back, lots returned) when the trade's key is taken.
    """
    async with engine.begin() as connection:
        taken = lots if lots is not None else position.quantity_open
        after = await _take(connection, position.id, taken, closed_at)
        if after is None and lots is None:  # a concurrent partial close: take what is left now
            taken = await _open_lots(connection, position.id)
            after = await _take(connection, position.id, taken, closed_at)
        if after is None:
            raise _closed_concurrently(position.id, taken)
        values = {name: after._mapping[name] for name in CARRIED}
        values |= {"position_id": position.id, "lots": taken, **closing(taken)}
        trade = (await connection.execute(_insert_unless_taken(connection, TRADE, values))).first()
        if trade is None:
            raise CloseKeyTaken
    return trade, after


async def _take(
    connection: AsyncConnection, position_id: int, lots: int, closed_at: datetime
) -> Row[Any] | None:
    if lots <= 0:
        raise Conflict(f"position {position_id} is already closed")
    statement = take_lots_statement(position_id, lots, closed_at).returning(*POSITION.c)
    return (await connection.execute(statement)).first()


async def _open_lots(connection: AsyncConnection, position_id: int) -> int:
    query = select(POSITION.c.quantity_open).where(POSITION.c.id == position_id)
    return int((await connection.execute(query)).scalar_one() or 0)
