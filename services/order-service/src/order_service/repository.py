"""The order service's one way into the database: async, typed records in and out.

Reads go through `Repository`; every write happens inside a `UnitOfWork` that an application
function opens (`async with repository.unit_of_work() as work:`), one transaction that locks the
rows it changes: a close takes its lots with one conditional UPDATE (`... WHERE quantity_open >=
:lots`, which PostgreSQL row-locks and SQLite serializes with `BEGIN IMMEDIATE`), and the rows it
inserts carry unique keys (`idempotency_key`, `client_order_id`, a trade's `close_idempotency_key`)
so a concurrent retry loses at the insert (`INSERT ... ON CONFLICT DO NOTHING RETURNING`: no row
back) and the caller replays the winner. No SQL lives anywhere else in the order service (the ML
reports read through their own read models in `order_service.ml`).

Statements are built once and executed with parameters: building one per request cost more CPU
in cache keys and coercion than the round trip. Enum members are written as their values: the
drivers do not agree on how to adapt a `StrEnum`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    JSON,
    Integer,
    Numeric,
    Table,
    bindparam,
    case,
    cast,
    func,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from optrade.db.engine import autocommit
from optrade.db.models import (
    EngineLease,
    Order,
    Position,
    Strategy,
    Trade,
    carried_trade_fields,
)
from optrade.db.types import UTCDateTime
from optrade.domain import OrderStatus, PositionStatus, TradeWindow, utcnow
from optrade.errors import Conflict, NotFound
from order_service.account_store import AccountReads
from order_service.records import (
    OrderRecord,
    PositionRecord,
    StrategyRecord,
    TradeRecord,
    record,
)
from order_service.statements import run
from order_service.stored import as_stored, plain

ORDER: Table = Order.__table__  # type: ignore[attr-defined]
POSITION: Table = Position.__table__  # type: ignore[attr-defined]
TRADE: Table = Trade.__table__  # type: ignore[attr-defined]
LEASE: Table = EngineLease.__table__  # type: ignore[attr-defined]
STRATEGY: Table = Strategy.__table__  # type: ignore[attr-defined]
CARRIED = tuple(carried_trade_fields())
R = TypeVar("R", PositionRecord, TradeRecord, OrderRecord, StrategyRecord)

_JSON_COLUMNS = {
    table.name: tuple(c for c in table.c if isinstance(c.type, JSON))
    for table in (ORDER, POSITION, TRADE, STRATEGY)
}
# An insert answers the row's id and its JSON (PostgreSQL's JSONB reorders keys); the rest of the
# record is what `as_stored` wrote, so the 90- and 140-column rows are not read back.
_INSERT_UNLESS_TAKEN = {
    (dialect.__name__.rsplit(".", 1)[-1], table.name): dialect.insert(table)
    .on_conflict_do_nothing()
    .returning(table.c.id, *_JSON_COLUMNS[table.name])
    for dialect in (postgresql, sqlite)
    for table in (ORDER, POSITION, TRADE, STRATEGY)
}
_BY_ID = {table.name: select(table).where(table.c.id == bindparam("p_id")) for table in
          (ORDER, POSITION, TRADE, STRATEGY)}  # fmt: skip
_INSERT_MANY = {
    table.name: table.insert().returning(*table.c, sort_by_parameter_order=True)
    for table in (ORDER, POSITION)
}
_OPEN_LEGS = select(
    POSITION.c.expiry, POSITION.c.strike, POSITION.c.option_type, POSITION.c.side,
    POSITION.c.quantity_open, POSITION.c.lot_size, POSITION.c.entry_iv,
).where(
    POSITION.c.status == PositionStatus.OPEN.value,
    POSITION.c.underlying == bindparam("p_underlying"),
    POSITION.c.mode == bindparam("p_mode"),
    POSITION.c.account == bindparam("p_account"),
)  # fmt: skip
_STRATEGY_BY_KEY = select(STRATEGY).where(STRATEGY.c.idempotency_key == bindparam("p_key"))
_ORDER_BY = {
    column: select(ORDER).where(ORDER.c[column] == bindparam("p_value"))
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
        open_entry_charges=POSITION.c.open_entry_charges
        - bindparam("p_release", type_=Numeric(14, 2)),
    )
)
# What a close changes of the position; the rest of it is as read before the close.
_TAKEN = ("quantity_open", "status", "closed_at", "updated_at", "open_entry_charges")
_TAKE_LOTS_RETURNING = _TAKE_LOTS.returning(*(POSITION.c[name] for name in _TAKEN))
_NONE_RELEASED = Decimal("0.00")
# An account's lock: a PostgreSQL transaction advisory lock keyed by its name.
_ACCOUNT_LOCK = func.pg_advisory_xact_lock(func.hashtextextended(bindparam("p_lock_account"), 0))
_LOCK_ACCOUNT = select(_ACCOUNT_LOCK)
# The same lock taken by the insert of an order (PostgreSQL): one round trip fewer for a fill.
_INSERT_LOCKING = {
    table.name: postgresql.insert(table)
    .on_conflict_do_nothing()
    .returning(table.c.id, *_JSON_COLUMNS[table.name], _ACCOUNT_LOCK.label("locked"))
    for table in (ORDER,)
}
# PostgreSQL inserts a row and the order that filled it (a position and its opening order, a
# trade and its closing order) in one statement: the order's `link` column takes the row's id.
# A taken key of either inserts nothing that is answered (the unit of work then rolls back).
# The order's parameters are its column names prefixed with `o_`; the row's, its own.
_ORDER_PREFIX = "o_"


def _typed_order_value(column: Any, prefix: str = _ORDER_PREFIX) -> Any:
    """A row's value of `column` in a SELECT list (parameter `prefix` + its name). psycopg's
    dialect casts every parameter but numbers; a NULL number there would be text to PostgreSQL,
    so numbers are cast (to their own scale, to which `as_stored` has rounded them already)."""
    value = bindparam(prefix + column.name, type_=column.type)
    return cast(value, column.type) if isinstance(column.type, Numeric) else value


def _with_order(table: Table, link: str, *, lock: bool) -> Any:
    row = (
        postgresql.insert(table)
        .values({c.name: bindparam(c.name, type_=c.type) for c in table.c if c.name != "id"})
        .on_conflict_do_nothing()
        .returning(table.c.id, *_JSON_COLUMNS[table.name])
        .cte("row_inserted")
    )
    columns = [c for c in ORDER.c if c.name != "id"]
    values = select(*(row.c.id if c.name == link else _typed_order_value(c) for c in columns))
    extra = (_ACCOUNT_LOCK.label("locked"),) if lock else ()
    order = (
        postgresql.insert(ORDER)
        .from_select([c.name for c in columns], values)
        .on_conflict_do_nothing()
        .returning(ORDER.c.id, *_JSON_COLUMNS[ORDER.name], *extra)
        .cte("order_inserted")
    )
    return select(
        *(row.c[c.name] for c in (table.c.id, *_JSON_COLUMNS[table.name])),
        *(order.c[c.name].label(_ORDER_PREFIX + c.name)
          for c in (ORDER.c.id, *_JSON_COLUMNS[ORDER.name])),
    ).select_from(row.join(order, true()))  # fmt: skip


_WITH_ORDER = {
    (POSITION.name, True): _with_order(POSITION, "position_id", lock=True),
    (POSITION.name, False): _with_order(POSITION, "position_id", lock=False),
    (TRADE.name, False): _with_order(TRADE, "trade_id", lock=False),
}
# PostgreSQL closes in one statement: the UPDATE that takes the lots, the trade's insert (from
# the UPDATE's row: nothing is inserted when the lots were not there to take) and the closing
# order's (from the trade's row: nothing when the trade's close key is taken). The trade's
# parameters are its column names prefixed with `t_`, the order's with `o_`.
_TRADE_PREFIX = "t_"


def _close_in_one(*, with_order: bool) -> Any:
    taken = _TAKE_LOTS_RETURNING.cte("taken")
    trade_columns = [c for c in TRADE.c if c.name != "id"]
    trade = (
        postgresql.insert(TRADE)
        .from_select(
            [c.name for c in trade_columns],
            select(*(_typed_order_value(c, _TRADE_PREFIX) for c in trade_columns)).select_from(
                taken
            ),
        )
        .on_conflict_do_nothing()
        .returning(TRADE.c.id, *_JSON_COLUMNS[TRADE.name])
        .cte("trade_inserted")
    )
    answered = [
        *taken.c,
        *(trade.c[c.name].label(_TRADE_PREFIX + c.name)
          for c in (TRADE.c.id, *_JSON_COLUMNS[TRADE.name])),
    ]  # fmt: skip
    joined = taken.outerjoin(trade, true())
    if with_order:
        order_columns = [c for c in ORDER.c if c.name != "id"]
        order = (
            postgresql.insert(ORDER)
            .from_select(
                [c.name for c in order_columns],
                select(
                    *(
                        trade.c.id if c.name == "trade_id" else _typed_order_value(c)
                        for c in order_columns
                    )
                ),  # fmt: skip
            )
            .returning(ORDER.c.id, *_JSON_COLUMNS[ORDER.name])
            .cte("order_inserted")
        )
        answered += [order.c[c.name].label(_ORDER_PREFIX + c.name)
                     for c in (ORDER.c.id, *_JSON_COLUMNS[ORDER.name])]  # fmt: skip
        joined = joined.outerjoin(order, true())
    return select(*answered).select_from(joined)


_CLOSE_IN_ONE = {with_order: _close_in_one(with_order=with_order) for with_order in (True, False)}
_LINK_ORDER = (
    update(ORDER)
    .where(ORDER.c.id == bindparam("p_id"))
    .values(position_id=bindparam("p_position"), trade_id=bindparam("p_trade"))
)


def _tagged(table: Table, tag: str | None) -> Any:
    """`tag` equals the row's (None: the row has no tag)."""
    return table.c.tag.is_(None) if tag is None else table.c.tag == tag


@dataclass(frozen=True)
class PageRequest:
    """Which slice of a newest-first listing to answer."""

    limit: int = 50
    offset: int = 0


@dataclass(frozen=True)
class Page(Generic[R]):
    items: list[R]
    total: int
    limit: int
    offset: int


# SQLite's RETURNING hands INTEGER columns back as REAL (3.0): the insert's answer is coerced.
_INTEGER_COLUMNS = {
    table.name: tuple(c.name for c in table.c if isinstance(c.type, Integer) and c.name != "id")
    for table in (ORDER, POSITION, TRADE, STRATEGY)
}


def _returned(connection: AsyncConnection, table: Table, row: Row[Any]) -> dict[str, Any]:
    values = dict(row._mapping)
    if connection.dialect.name == "sqlite":
        for name in _INTEGER_COLUMNS[table.name]:
            if values[name] is not None:
                values[name] = int(values[name])
    return values


PENDING_STATUSES = (OrderStatus.OPEN.value, OrderStatus.TRIGGER_PENDING.value)
_WATCHED = or_(
    POSITION.c.stop_loss.is_not(None),
    POSITION.c.target.is_not(None),
    POSITION.c.trailing_stop.is_not(None),
    POSITION.c.exit_at.is_not(None),
    POSITION.c.square_off_at.is_not(None),
)
_WATCHED_STRATEGY = or_(
    STRATEGY.c.stop_loss_pnl.is_not(None),
    STRATEGY.c.target_pnl.is_not(None),
    STRATEGY.c.exit_at.is_not(None),
    STRATEGY.c.square_off_at.is_not(None),
)


class KeyTaken(Exception):
    """A unique key of the row being inserted is taken: this request is a retry (or a reuse).
    The unit of work rolls back."""


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    return {k: plain(v) for k, v in values.items()}


class UnitOfWork:
    """One transaction of an application function; commits when the block ends without error."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection
        self.locked: set[str] = set()  # the accounts whose lock this transaction holds

    async def _insert(
        self, table: Table, values: dict[str, Any], *, lock_account: str | None = None
    ) -> dict[str, Any]:
        """Insert a row and answer it as stored; `KeyTaken` when a unique key of it is taken.
        `lock_account`: the statement also takes that account's lock (when it inserts)."""
        stored = as_stored(table, values)
        postgres = self.connection.dialect.name == "postgresql"
        if lock_account is not None and postgres:
            statement = _INSERT_LOCKING[table.name]
            params = {**stored, "p_lock_account": lock_account}
        else:
            statement = _INSERT_UNLESS_TAKEN[(self.connection.dialect.name, table.name)]
            params = stored
        answered = (await run(self.connection, statement, params)).first()
        if answered is None:
            raise KeyTaken(table.name)
        if lock_account is not None:
            self.locked.add(lock_account)
        stored["id"] = int(answered["id"])  # SQLite's RETURNING answers 3.0
        for column in _JSON_COLUMNS[table.name]:
            stored[column.name] = answered[column.name]
        return stored

    async def _insert_with_order(
        self,
        table: Table,
        values: dict[str, Any],
        order: dict[str, Any],
        link: str,
        lock_account: str | None,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Insert a row and the order that filled it, the order's `link` naming the row; both
        as stored. `KeyTaken` when a unique key of either is taken. One statement on PostgreSQL
        (`_WITH_ORDER`), two on SQLite."""
        if lock_account in self.locked:
            lock_account = None
        now = utcnow()
        order = {"created_at": now, "updated_at": now, **order}
        if self.connection.dialect.name != "postgresql":
            stored = await self._insert(table, values)
            order[link] = stored["id"]
            placed = await self._insert(ORDER, order, lock_account=lock_account)
            return stored, placed
        stored = as_stored(table, values)
        placed = as_stored(ORDER, order)
        params = {**stored, **{_ORDER_PREFIX + k: v for k, v in placed.items() if k != link}}
        statement = _WITH_ORDER[(table.name, lock_account is not None)]
        if lock_account is not None:
            params["p_lock_account"] = lock_account
        answered = (await run(self.connection, statement, params)).first()
        if answered is None:
            raise KeyTaken(table.name)
        if lock_account is not None:
            self.locked.add(lock_account)
        stored["id"] = placed[link] = int(answered["id"])
        placed["id"] = int(answered[_ORDER_PREFIX + "id"])
        for column in _JSON_COLUMNS[table.name]:
            stored[column.name] = answered[column.name]
        for column in _JSON_COLUMNS[ORDER.name]:
            placed[column.name] = answered[_ORDER_PREFIX + column.name]
        return stored, placed

    async def add_filled_position(
        self, values: dict[str, Any], order: dict[str, Any], *, lock_account: str | None = None
    ) -> tuple[PositionRecord, OrderRecord]:
        """Insert a position and the order that opened it (its `position_id` set here); with
        `lock_account`, take that account's lock in the same statement (PostgreSQL)."""
        values = {"status": PositionStatus.OPEN.value, "updated_at": utcnow(), **values}
        stored, placed = await self._insert_with_order(
            POSITION, values, order, "position_id", lock_account
        )
        return record(PositionRecord, stored), record(OrderRecord, placed)

    async def lock_account(self, account: str) -> None:
        """Hold the account's lock until this transaction ends: PostgreSQL takes a transaction
        advisory lock keyed by the account's name; SQLite's `BEGIN IMMEDIATE` already holds the
        database's write lock. Funds are checked under it, so two fills of one account never
        both spend the same available cash. Held already (by this unit of work): nothing to do."""
        if account in self.locked:
            return
        if self.connection.dialect.name == "postgresql":
            await run(self.connection, _LOCK_ACCOUNT, {"p_lock_account": account})
        self.locked.add(account)

    async def add_order(
        self, values: dict[str, Any], *, lock_account: str | None = None
    ) -> OrderRecord:
        """Insert an order; `KeyTaken` when its idempotency key or client_order_id is taken.

        `lock_account`: take that account's lock (`lock_account`) with this insert, one round
        trip fewer; a taken key takes no lock."""
        now = utcnow()
        if lock_account in self.locked:
            lock_account = None
        values = {"created_at": now, "updated_at": now, **values}
        return record(OrderRecord, await self._insert(ORDER, values, lock_account=lock_account))

    async def add_strategy(self, values: dict[str, Any]) -> StrategyRecord:
        """Insert a strategy; `KeyTaken` when its idempotency key is taken."""
        values = {"status": PositionStatus.OPEN.value, "created_at": utcnow(), **values}
        return record(StrategyRecord, await self._insert(STRATEGY, values))

    async def close_strategy(
        self, strategy_id: int, values: dict[str, Any]
    ) -> StrategyRecord | None:
        """Mark the strategy closed with `values` (exit_reason, closed_at) while it is open; None
        when it was closed already (by another engine, or the client)."""
        statement = (
            update(STRATEGY)
            .where(STRATEGY.c.id == strategy_id, STRATEGY.c.status == PositionStatus.OPEN.value)
            .values(_plain({**values, "status": PositionStatus.CLOSED.value}))
            .returning(*STRATEGY.c)
        )
        row = (await self.connection.execute(statement)).first()
        if row is None:
            return None
        return record(StrategyRecord, _returned(self.connection, STRATEGY, row))

    async def mark_strategies_evaluated(self, ids: Sequence[int], instant: datetime) -> None:
        """Record that these strategies' exits saw the observation at `instant`."""
        if ids:
            await self.connection.execute(
                update(STRATEGY)
                .where(STRATEGY.c.id.in_(list(ids)))
                .values(exits_evaluated_at=instant)
            )

    async def add_position(self, values: dict[str, Any]) -> PositionRecord:
        values = {"status": PositionStatus.OPEN.value, "updated_at": utcnow(), **values}
        return record(PositionRecord, await self._insert(POSITION, values))

    async def _insert_many(self, table: Table, rows: Sequence[dict[str, Any]]) -> list[Any]:
        """Insert rows that carry no unique key in one statement (one round trip), returned in
        the order given."""
        statement = _INSERT_MANY[table.name]
        result = await self.connection.execute(statement, [_plain(row) for row in rows])
        return [_returned(self.connection, table, row) for row in result.all()]

    async def add_positions(self, rows: Sequence[dict[str, Any]]) -> list[PositionRecord]:
        """Insert the positions of a strategy's legs at once."""
        now = utcnow()
        rows = [{"status": PositionStatus.OPEN.value, "updated_at": now, **row} for row in rows]
        return [record(PositionRecord, row) for row in await self._insert_many(POSITION, rows)]

    async def add_orders(self, rows: Sequence[dict[str, Any]]) -> list[OrderRecord]:
        """Insert orders without client keys (a strategy's legs) at once."""
        now = utcnow()
        rows = [{"created_at": now, "updated_at": now, **row} for row in rows]
        return [record(OrderRecord, row) for row in await self._insert_many(ORDER, rows)]

    async def link_order(self, order_id: int, position_id: int, trade_id: int | None) -> None:
        """Name the position (and trade) an order filled into."""
        params = {"p_id": order_id, "p_position": position_id, "p_trade": trade_id}
        await self.connection.execute(_LINK_ORDER, params)

    async def take_lots(
        self,
        position: PositionRecord,
        lots: int | None,
        closed_at: datetime,
        released: Callable[[int], Decimal] = lambda _taken: _NONE_RELEASED,
    ) -> tuple[int, dict[str, Any]]:
        """Take `lots` (None: all that is open) off the position: (lots taken, columns changed).
        The same UPDATE takes `released(lots taken)` off its open entry charges.

        The count read with `position` is tried first; only when a concurrent partial close took
        some is the position read again inside the transaction. 409 when none are left.
        """
        taken = lots if lots is not None else position.quantity_open
        changed = await self._take(position.id, taken, closed_at, released)
        if changed is None and lots is None:  # a concurrent partial close: take what is left
            taken = await self._open_lots(position.id)
            changed = await self._take(position.id, taken, closed_at, released)
        if changed is None:
            raise Conflict(
                f"quantity: {taken} lots are no longer open on position {position.id} "
                "(closed concurrently)"
            )
        return taken, changed

    async def close_into_trade(
        self,
        position: PositionRecord,
        lots: int | None,
        closed_at: datetime,
        released: Callable[[int], Decimal],
        closing: Callable[[int], dict[str, Any]],
        order: Callable[[int], dict[str, Any]] | None,
    ) -> tuple[int, dict[str, Any], TradeRecord, OrderRecord | None]:
        """Take `lots` off the position (`take_lots`), insert the trade of the lots taken
        (`closing(taken)` its own columns) and, with `order`, the closing order that filled it:
        (lots taken, columns changed, trade, order). `KeyTaken` when the trade's close key is
        taken (the unit of work rolls back: the lots return).

        On PostgreSQL one statement (`_CLOSE_IN_ONE`) when the lots read with `position` are
        still open; else (SQLite, or a concurrent close took some) one statement each."""
        if self.connection.dialect.name == "postgresql" and position.quantity_open > 0:
            taken = lots if lots is not None else position.quantity_open
            done = await self._close_in_one(position, taken, closed_at, released, closing, order)
            if done is not None:
                return done
        taken, changed = await self.take_lots(position, lots, closed_at, released)
        if order is None:
            return taken, changed, await self.add_trade(position, taken, closing(taken)), None
        trade, placed = await self.add_trade_with_order(
            position, taken, closing(taken), order(taken)
        )
        return taken, changed, trade, placed

    async def _close_in_one(
        self,
        position: PositionRecord,
        taken: int,
        closed_at: datetime,
        released: Callable[[int], Decimal],
        closing: Callable[[int], dict[str, Any]],
        order: Callable[[int], dict[str, Any]] | None,
    ) -> tuple[int, dict[str, Any], TradeRecord, OrderRecord | None] | None:
        """The close in one statement; None when the lots were no longer there to take (nothing
        was written: the caller takes what is left)."""
        stored = as_stored(TRADE, _trade_values(position, taken, closing(taken)))
        params = {_TRADE_PREFIX + k: v for k, v in stored.items()}
        params |= {"p_id": position.id, "p_lots": taken, "p_closed_at": closed_at,
                   "p_now": utcnow(), "p_release": released(taken)}  # fmt: skip
        placed = None
        if order is not None:
            now = utcnow()
            placed = as_stored(ORDER, {"created_at": now, "updated_at": now, **order(taken)})
            params |= {_ORDER_PREFIX + k: v for k, v in placed.items() if k != "trade_id"}
        answered = (await run(self.connection, _CLOSE_IN_ONE[order is not None], params)).first()
        if answered is None:
            return None
        if answered[_TRADE_PREFIX + "id"] is None:
            raise KeyTaken(TRADE.name)
        changed = {name: answered[name] for name in _TAKEN}
        stored["id"] = int(answered[_TRADE_PREFIX + "id"])
        for column in _JSON_COLUMNS[TRADE.name]:
            stored[column.name] = answered[_TRADE_PREFIX + column.name]
        trade = record(TradeRecord, stored)
        if placed is None:
            return taken, changed, trade, None
        placed["id"], placed["trade_id"] = int(answered[_ORDER_PREFIX + "id"]), trade.id
        for column in _JSON_COLUMNS[ORDER.name]:
            placed[column.name] = answered[_ORDER_PREFIX + column.name]
        return taken, changed, trade, record(OrderRecord, placed)

    async def _take(
        self, position_id: int, lots: int, closed_at: datetime, released: Callable[[int], Decimal]
    ) -> dict[str, Any] | None:
        if lots <= 0:
            raise Conflict(f"position {position_id} is already closed")
        params = {"p_id": position_id, "p_lots": lots, "p_closed_at": closed_at,
                  "p_now": utcnow(), "p_release": released(lots)}  # fmt: skip
        changed = (await run(self.connection, _TAKE_LOTS_RETURNING, params)).first()
        if changed is not None and self.connection.dialect.name == "sqlite":
            changed["quantity_open"] = int(changed["quantity_open"])  # RETURNING answers 3.0
        return changed

    async def _open_lots(self, position_id: int) -> int:
        found = (await run(self.connection, _OPEN_LOTS, {"p_id": position_id})).rows
        return int(found[0][0] or 0)

    async def update_order(
        self, order_id: int, values: dict[str, Any], *, pending: bool = True
    ) -> OrderRecord | None:
        """Apply `values` to the order (only while it is pending, unless told otherwise) and
        return it; None when it is no longer pending (filled, cancelled, expired elsewhere): the
        row lock of this UPDATE is what keeps two engines from filling one order twice."""
        statement = update(ORDER).where(ORDER.c.id == order_id)
        if pending:
            statement = statement.where(ORDER.c.status.in_(PENDING_STATUSES))
        values = _plain({**values, "updated_at": utcnow()})
        row = (await self.connection.execute(statement.values(values).returning(*ORDER.c))).first()
        return None if row is None else record(OrderRecord, _returned(self.connection, ORDER, row))

    async def update_position(
        self, position_id: int, values: dict[str, Any], *, open_only: bool = True
    ) -> PositionRecord | None:
        """Apply `values` to the position while it is open; None when it is closed."""
        statement = update(POSITION).where(POSITION.c.id == position_id)
        if open_only:
            statement = statement.where(POSITION.c.status == PositionStatus.OPEN.value)
        values = _plain({**values, "updated_at": utcnow()})
        row = (
            await self.connection.execute(statement.values(values).returning(*POSITION.c))
        ).first()
        if row is None:
            return None
        return record(PositionRecord, _returned(self.connection, POSITION, row))

    async def mark_evaluated(
        self, order_ids: Sequence[int], position_ids: Sequence[int], instant: datetime
    ) -> None:
        """Record that these pending orders and watched positions saw the observation at
        `instant` (each is evaluated on the observations after that one)."""
        if order_ids:
            await self.connection.execute(
                update(ORDER)
                .where(ORDER.c.id.in_(list(order_ids)), ORDER.c.status.in_(PENDING_STATUSES))
                .values(evaluated_at=instant)
            )
        if position_ids:
            await self.connection.execute(
                update(POSITION)
                .where(POSITION.c.id.in_(list(position_ids)))
                .values(exits_evaluated_at=instant)
            )

    async def add_trade(
        self, position: PositionRecord, lots: int, closing: dict[str, Any]
    ) -> TradeRecord:
        """Insert the trade of `lots` of `position`: the entry and metadata carried from it (the
        one code path that cannot forget a field), `closing` its own columns."""
        stored = await self._insert(TRADE, _trade_values(position, lots, closing))
        return record(TradeRecord, stored)

    async def add_trade_with_order(
        self, position: PositionRecord, lots: int, closing: dict[str, Any], order: dict[str, Any]
    ) -> tuple[TradeRecord, OrderRecord]:
        """`add_trade` and the closing order that filled it (its `trade_id` set here)."""
        stored, placed = await self._insert_with_order(
            TRADE, _trade_values(position, lots, closing), order, "trade_id", None
        )
        return record(TradeRecord, stored), record(OrderRecord, placed)


def _trade_values(position: PositionRecord, lots: int, closing: dict[str, Any]) -> dict[str, Any]:
    values = {name: getattr(position, name) for name in CARRIED}
    return values | {"position_id": position.id, "lots": lots, **closing}


class Repository(AccountReads):
    """Reads, and the unit of work that writes."""

    def __init__(self, engine: AsyncEngine, connection: AsyncConnection | None = None) -> None:
        self.engine = engine
        self._connection = connection

    def bound(self, work: UnitOfWork) -> Repository:
        """This repository reading inside `work`'s transaction (what it reads is what the unit
        of work sees, under the locks it holds: SQLite's write lock blocks any other reader)."""
        return Repository(self.engine, work.connection)

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncConnection]:
        """The connection a read runs on: the bound unit of work's, else a pooled one."""
        if self._connection is not None:
            yield self._connection
            return
        async with autocommit(self.engine).connect() as connection:
            yield connection

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[UnitOfWork]:
        async with self.engine.begin() as connection:
            yield UnitOfWork(connection)

    async def _first(self, query: Any, params: dict[str, Any]) -> dict[str, Any] | None:
        """The first row of a built-once `query` (run on the driver: `statements.run`)."""
        async with self.reading() as connection:
            return (await run(connection, query, params)).first()

    async def _all(self, query: Any, params: dict[str, Any] | None = None) -> Sequence[Row[Any]]:
        async with self.reading() as connection:
            return (await connection.execute(query, params or {})).all()

    async def _by_id(self, kind: type[R], table: Table, row_id: int) -> R:
        found = await self._first(_BY_ID[table.name], {"p_id": row_id})
        if found is None:
            raise NotFound(f"{table.name} {row_id} does not exist")
        return record(kind, found)

    async def position(self, position_id: int) -> PositionRecord:
        """The position as stored now, or NotFound naming its id."""
        return await self._by_id(PositionRecord, POSITION, position_id)

    async def trade(self, trade_id: int) -> TradeRecord:
        return await self._by_id(TradeRecord, TRADE, trade_id)

    async def order(self, order_id: int) -> OrderRecord:
        return await self._by_id(OrderRecord, ORDER, order_id)

    async def strategy(self, strategy_id: int) -> StrategyRecord:
        return await self._by_id(StrategyRecord, STRATEGY, strategy_id)

    async def strategy_by_key(self, key: str) -> StrategyRecord | None:
        """The strategy a request with this idempotency key opened, if any."""
        found = await self._first(_STRATEGY_BY_KEY, {"p_key": key})
        return None if found is None else record(StrategyRecord, found)

    async def strategy_legs(
        self, strategy_id: int
    ) -> tuple[list[PositionRecord], list[TradeRecord]]:
        """The positions of a strategy's legs (in the order they were placed) and their trades."""
        positions = await self._all(
            select(POSITION).where(POSITION.c.strategy_id == strategy_id).order_by(POSITION.c.id)
        )
        trades = await self._all(
            select(TRADE).where(TRADE.c.strategy_id == strategy_id).order_by(TRADE.c.id)
        )
        return (
            [record(PositionRecord, row) for row in positions],
            [record(TradeRecord, row) for row in trades],
        )

    async def watched_strategies(
        self, mode: str, contract: tuple[str, date] | None = None
    ) -> list[StrategyRecord]:
        """Open strategies of one mode with an exit or a square-off for the engine to watch."""
        query = select(STRATEGY).where(
            STRATEGY.c.status == PositionStatus.OPEN.value,
            STRATEGY.c.mode == mode,
            _WATCHED_STRATEGY,
        )
        if contract is not None:
            query = query.where(
                STRATEGY.c.underlying == contract[0], STRATEGY.c.expiry == contract[1]
            )
        rows = await self._all(query.order_by(STRATEGY.c.id))
        return [record(StrategyRecord, row) for row in rows]

    async def open_legs_of(self, underlying: str, mode: str, account: str) -> Sequence[Row[Any]]:
        """The account's open positions on `underlying` in `mode` as a margin scan reads them
        (expiry, strike, option_type, side, quantity_open, lot_size, entry_iv): what a new basket
        is margined beside. Rows, not records: an account may hold many."""
        params = {"p_underlying": underlying, "p_mode": mode, "p_account": account}
        return await self._all(_OPEN_LEGS, params)

    async def tag_strategy(self, strategy_id: int, tag: str) -> None:
        """Tag every order and position of a strategy (OpenAlgo's `strategy` names them)."""
        async with self.unit_of_work() as work:
            for table in (ORDER, POSITION):
                await work.connection.execute(
                    update(table).where(table.c.strategy_id == strategy_id).values(tag=tag)
                )

    async def orders_of_positions(self, position_ids: Sequence[int]) -> list[OrderRecord]:
        """The orders that opened these positions."""
        if not position_ids:
            return []
        rows = await self._all(
            select(ORDER).where(
                ORDER.c.position_id.in_(list(position_ids)), ORDER.c.intent == "open"
            )
        )
        return [record(OrderRecord, row) for row in rows]

    async def order_by(self, column: str, value: str) -> OrderRecord | None:
        """The order whose unique `column` (idempotency_key, client_order_id) is `value`."""
        found = await self._first(_ORDER_BY[column], {"p_value": value})
        return None if found is None else record(OrderRecord, found)

    async def trade_by_close_key(self, key: str) -> TradeRecord | None:
        """The trade a close with this key recorded, if any."""
        found = await self._first(_TRADE_BY_CLOSE_KEY, {"p_key": key})
        return None if found is None else record(TradeRecord, found)

    async def positions_by_id(self, ids: Sequence[int]) -> dict[int, PositionRecord]:
        if not ids:
            return {}
        rows = await self._all(select(POSITION).where(POSITION.c.id.in_(list(ids))))
        return {row.id: record(PositionRecord, row) for row in rows}

    async def _page(
        self, kind: type[R], table: Table, time_column: str, page: PageRequest, *conditions: Any
    ) -> Page[R]:
        newest_first = (table.c[time_column].desc(), table.c.id.desc())
        total = await self._all(select(func.count()).select_from(table).where(*conditions))
        rows = await self._all(
            select(table)
            .where(*conditions)
            .order_by(*newest_first)
            .offset(page.offset)
            .limit(page.limit)
        )
        items = [record(kind, row) for row in rows]
        return Page(items, int(total[0][0]), page.limit, page.offset)

    async def list_positions(
        self, window: TradeWindow, page: PageRequest, *, status: str | None = None
    ) -> Page[PositionRecord]:
        """Positions opened in the window (`opened_at`), newest first."""
        conditions = list(window.conditions(dict(POSITION.c), "opened_at"))
        if status:
            conditions.append(POSITION.c.status == status)
        return await self._page(PositionRecord, POSITION, "opened_at", page, *conditions)

    async def list_trades(
        self, window: TradeWindow, page: PageRequest, *, position_id: int | None = None
    ) -> Page[TradeRecord]:
        """Trades closed in the window (`closed_at`), newest first."""
        conditions = list(window.conditions(dict(TRADE.c), "closed_at"))
        if position_id is not None:
            conditions.append(TRADE.c.position_id == position_id)
        return await self._page(TradeRecord, TRADE, "closed_at", page, *conditions)

    async def list_orders(
        self,
        page: PageRequest,
        *,
        client_order_id: str | None = None,
        status: OrderStatus | None = None,
        position_id: int | None = None,
    ) -> Page[OrderRecord]:
        """Orders, newest first, filtered by the client's id, status or position."""
        conditions = []
        if client_order_id is not None:
            conditions.append(ORDER.c.client_order_id == client_order_id)
        if status is not None:
            conditions.append(ORDER.c.status == status.value)
        if position_id is not None:
            conditions.append(ORDER.c.position_id == position_id)
        return await self._page(OrderRecord, ORDER, "created_at", page, *conditions)

    async def open_positions_of(
        self,
        contract: tuple[str, date, Decimal, str],
        *,
        side: str,
        product: str,
        tag: str | None,
    ) -> list[PositionRecord]:
        """Open positions of one contract, side, product and tag (None: untagged), oldest first:
        the holding a broker nets an opposite order against."""
        underlying, expiry, strike, option_type = contract
        query = select(POSITION).where(
            POSITION.c.status == PositionStatus.OPEN.value, POSITION.c.underlying == underlying,
            POSITION.c.expiry == expiry, POSITION.c.strike == strike,
            POSITION.c.option_type == option_type, POSITION.c.side == side,
            POSITION.c.product == product, _tagged(POSITION, tag),
        )  # fmt: skip
        rows = await self._all(query.order_by(POSITION.c.opened_at, POSITION.c.id))
        return [record(PositionRecord, row) for row in rows]

    async def book_positions(
        self, since: datetime, *, tag: str | None = None, open_only: bool = False
    ) -> list[PositionRecord]:
        """Positions open now or closed since `since` (a broker's day), of `tag` when given,
        oldest first."""
        still_open = POSITION.c.status == PositionStatus.OPEN.value
        query = select(POSITION).where(
            still_open if open_only else or_(still_open, POSITION.c.closed_at >= since)
        )
        if tag is not None:
            query = query.where(POSITION.c.tag == tag)
        rows = await self._all(query.order_by(POSITION.c.opened_at, POSITION.c.id))
        return [record(PositionRecord, row) for row in rows]

    async def book_orders(
        self,
        since: datetime,
        *,
        tag: str | None = None,
        statuses: Sequence[OrderStatus] = (),
    ) -> list[OrderRecord]:
        """Orders created since `since` or still pending, of `tag` and `statuses` when given,
        oldest first."""
        pending = ORDER.c.status.in_(PENDING_STATUSES)
        query = select(ORDER).where(or_(pending, ORDER.c.created_at >= since))
        if tag is not None:
            query = query.where(ORDER.c.tag == tag)
        if statuses:
            query = query.where(ORDER.c.status.in_([status.value for status in statuses]))
        rows = await self._all(query.order_by(ORDER.c.created_at, ORDER.c.id))
        return [record(OrderRecord, row) for row in rows]

    async def book_trades(self, since: datetime, *, tag: str | None = None) -> list[TradeRecord]:
        """Trades closed since `since`, of positions tagged `tag` when given, oldest first."""
        query = select(TRADE).where(TRADE.c.closed_at >= since)
        if tag is not None:
            tagged = select(POSITION.c.id).where(POSITION.c.tag == tag)
            query = query.where(TRADE.c.position_id.in_(tagged))
        rows = await self._all(query.order_by(TRADE.c.closed_at, TRADE.c.id))
        return [record(TradeRecord, row) for row in rows]

    async def open_positions_expired_by(
        self, day: date, expiry: date | None = None
    ) -> list[PositionRecord]:
        """Open positions whose expiry date is `day` or earlier (oldest first); the caller checks
        the 15:30 IST close of `day` itself."""
        query = select(POSITION).where(
            POSITION.c.status == PositionStatus.OPEN.value, POSITION.c.expiry <= day
        )
        if expiry is not None:
            query = query.where(POSITION.c.expiry == expiry)
        rows = await self._all(query.order_by(POSITION.c.id))
        return [record(PositionRecord, row) for row in rows]

    async def pending_orders(
        self, mode: str, contract: tuple[str, date] | None = None
    ) -> list[OrderRecord]:
        """Orders waiting for the market (open, trigger_pending) of one mode, oldest first;
        only those of (underlying, expiry) when given."""
        query = select(ORDER).where(ORDER.c.status.in_(PENDING_STATUSES), ORDER.c.mode == mode)
        if contract is not None:
            query = query.where(ORDER.c.underlying == contract[0], ORDER.c.expiry == contract[1])
        rows = await self._all(query.order_by(ORDER.c.id))
        return [record(OrderRecord, row) for row in rows]

    async def watched_positions(
        self, mode: str, contract: tuple[str, date] | None = None
    ) -> list[PositionRecord]:
        """Open positions of one mode with an exit or a square-off for the engine to watch."""
        query = select(POSITION).where(
            POSITION.c.status == PositionStatus.OPEN.value, POSITION.c.mode == mode, _WATCHED
        )
        if contract is not None:
            query = query.where(
                POSITION.c.underlying == contract[0], POSITION.c.expiry == contract[1]
            )
        rows = await self._all(query.order_by(POSITION.c.id))
        return [record(PositionRecord, row) for row in rows]

    async def hold_lease(self, role: str, holder: str, until: datetime, now: datetime) -> bool:
        """Take or renew the lease of `role` for `holder` until `until`; False while another
        holder's lease has not expired. One conditional statement, so two contenders never both
        win."""
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        insert = dialect.insert(LEASE).values(role=role, holder=holder, expires_at=until)
        statement = insert.on_conflict_do_update(
            index_elements=[LEASE.c.role],
            set_={"holder": holder, "expires_at": until},
            where=(LEASE.c.holder == holder) | (LEASE.c.expires_at < now),
        ).returning(LEASE.c.holder)
        async with self.engine.begin() as connection:
            return (await connection.execute(statement)).first() is not None

    async def release_lease(self, role: str, holder: str) -> None:
        statement = LEASE.delete().where(LEASE.c.role == role, LEASE.c.holder == holder)
        async with self.engine.begin() as connection:
            await connection.execute(statement)
