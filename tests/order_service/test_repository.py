"""The write path's Core statements (`order_service.store`) on the real database: a taken key is
no row (not an error), a close takes lots once and a taken close key gives them back."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from optrade.db.engine import create_async_db_engine
from optrade.domain import ExitReason, OrderStatus, Side, TradeMode
from optrade.errors import Conflict, NotFound
from order_service.application.closing import CloseKeys, ExitFill, close_lots
from order_service.fills import Fill
from order_service.records import OrderRecord, PositionRecord, record, updated
from order_service.repository import KeyTaken, PageRequest, Repository
from tests.support.factories import EXPIRY, OPENED_AT, snapshot

pytestmark = pytest.mark.both_databases  # the embedded default is proven too


@pytest.fixture(scope="module")
def async_engine(database_url: str) -> Iterator[AsyncEngine]:
    engine = create_async_db_engine(database_url)
    yield engine
    asyncio.run(engine.dispose())


def position_values(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "underlying": "NIFTY", "expiry": EXPIRY, "strike": Decimal("26000"),
        "option_type": "CE", "side": "BUY", "lot_size": 75, "lots": 3, "quantity_open": 3,
        "entry_price": Decimal("100.00"), "entry_price_source": "ask", "opened_at": OPENED_AT,
        "mode": "live", "off_hours": False, "features_snapshot": {"rsi_14": 55.0},
        **snapshot("entry_", OPENED_AT),
    }  # fmt: skip
    return values | overrides


def run(engine: AsyncEngine, work: Any) -> Any:
    async def scenario() -> Any:
        try:
            return await work
        finally:
            await engine.dispose()  # the pool belongs to this loop

    return asyncio.run(scenario())


def order_values(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "underlying": "NIFTY", "expiry": EXPIRY, "strike": Decimal("26000"), "option_type": "CE",
        "side": "BUY", "lots": 3, "lot_size": 75, "status": "complete", "mode": "live",
    }  # fmt: skip
    return values | overrides


async def _place(repository: Repository, **keys: Any) -> tuple[Any, Any]:
    async with repository.unit_of_work() as work:
        position, order = await work.add_filled_position(position_values(), order_values(**keys))
    return order, position


def test_a_taken_idempotency_key_or_client_order_id_rolls_the_whole_unit_back(
    async_engine: AsyncEngine,
) -> None:
    repository = Repository(async_engine)
    order, position = run(async_engine, _place(repository, idempotency_key="k1"))
    assert order.status == "complete" and order.position_id == position.id
    assert position.status == "open" and position.strike == Decimal("26000.00")
    with pytest.raises(KeyTaken):
        run(async_engine, _place(repository, idempotency_key="k1"))
    run(async_engine, _place(repository, client_order_id="c1"))
    with pytest.raises(KeyTaken):
        run(async_engine, _place(repository, client_order_id="c1"))
    found = run(async_engine, repository.order_by("idempotency_key", "k1"))
    assert found.id == order.id
    # The losers' positions were rolled back with their orders: two positions, two orders.
    page = run(async_engine, repository.list_orders(PageRequest()))
    linked = {o.position_id for o in page.items}
    assert page.total == 2 and position.id in linked and len(linked) == 2
    positions = run(async_engine, repository.positions_by_id(sorted(linked)))
    assert sorted(positions) == sorted(linked)


def _exit(closed_at: Any) -> ExitFill:
    return ExitFill(
        fill=Fill(Decimal("110.00"), "bid", Decimal("0.10")),
        exit_reason=ExitReason.CLIENT,
        closed_at=closed_at,
        instant=closed_at,
        mode=TradeMode.LIVE,
        off_hours=False,
    )


def test_a_close_takes_its_lots_once_and_a_taken_close_key_returns_them(
    async_engine: AsyncEngine,
) -> None:
    repository = Repository(async_engine)
    _, position = run(async_engine, _place(repository))
    closed_at = OPENED_AT + timedelta(hours=1)
    snap = snapshot("exit_", closed_at)

    def close(lots: int | None, key: str, at: Any = position) -> Any:
        work = close_lots(
            repository, position=at, lots=lots, exit_=_exit(closed_at), exit_snapshot=snap,
            keys=CloseKeys(key, "f"),
        )  # fmt: skip
        return run(async_engine, work)

    done = close(1, "close-1")
    trade, after = done.trade, done.position
    assert (trade.lots, trade.pnl, trade.model_version) == (1, Decimal("750.00"), None)
    assert trade.exit_reason == "client" and trade.charges is not None
    assert trade.net_pnl == trade.pnl - trade.charges and trade.market_seconds_held == 3600
    assert (after.quantity_open, after.status, after.closed_at) == (2, "open", None)
    assert done.order is not None and done.order.intent == "close"
    assert (done.order.side, done.order.trade_id, done.order.lots) == ("SELL", trade.id, 1)
    # The same close key again: the trade insert meets it, and the lots taken are rolled back.
    with pytest.raises(KeyTaken):
        close(1, "close-1")
    assert run(async_engine, repository.position(position.id)).quantity_open == 2
    # Closing everything (lots None) with a stale count takes what is really left.
    done = close(None, "close-2")  # `position` was read when 3 lots were open
    assert done.trade.lots == 2 and done.position.status == "closed"
    assert done.position.quantity_open == 0
    assert done.position.closed_at == closed_at.astimezone(UTC)
    with pytest.raises(Conflict, match="already closed"):
        close(None, "close-3")


def test_records_read_back_are_what_model_construct_builds(async_engine: AsyncEngine) -> None:
    """`record` sets a whole row as the record's fields directly; it must build exactly what
    pydantic's `model_construct` builds (fields, their values, the set of fields given)."""
    repository = Repository(async_engine)
    order, position = run(async_engine, _place(repository))
    read = run(async_engine, repository.position(position.id))
    for kind, built in ((PositionRecord, position), (PositionRecord, read), (OrderRecord, order)):
        slow = kind.model_construct(**built.__dict__)
        assert type(built) is kind and built == slow
        assert built.model_fields_set == slow.model_fields_set == set(kind.model_fields)
        assert built.__dict__ == slow.__dict__
    partial = record(OrderRecord, {"id": 1, "lots": 2})  # not a whole row: model_construct's way
    assert partial.model_fields_set == {"id", "lots"} and partial.lots == 2
    assert partial.intent == "open" and partial.position_id is None  # the fields' defaults


def test_an_insert_answers_the_row_as_a_read_finds_it(async_engine: AsyncEngine) -> None:
    """Inserts are not read back (`order_service.stored`): what they answer must be what a read
    of the row finds, field for field, for values the database changes: an instant in IST, more
    decimals than the column keeps (a tie included), a float in a NUMERIC column, a negative
    zero, enum members, defaults left out, JSON keys in an order JSONB does not keep."""
    ist = timezone(timedelta(hours=5, minutes=30))
    at = OPENED_AT.astimezone(ist)
    features = {"zeta": 1, "a": 2.5, "mid_key": [1, 2], "b": {"y": 1, "x": None}}
    repository = Repository(async_engine)

    async def scenario() -> list[tuple[Any, Any]]:
        async with repository.unit_of_work() as work:
            position = await work.add_position(position_values(
                opened_at=at, side=Side.SELL, entry_price=Decimal("100.125"),
                entry_spot=26123.455, entry_iv=14.123456789, features_snapshot=features,
                mark_price=Decimal("-0.001"), open_entry_charges=Decimal("12.3449"),
                mode=TradeMode.REPLAY,
            ))  # fmt: skip
            order = await work.add_order(order_values(
                position_id=position.id, placed_at=at, price=Decimal("99.995"),
                average_price=100.1, features_snapshot=features, status=OrderStatus.COMPLETE,
            ))  # fmt: skip
            closing = {
                "exit_price": Decimal("101.105"), "exit_price_source": "bid",
                "pnl": Decimal("-0.004"), "charges": Decimal("40.005"),
                "net_pnl": Decimal("-40.009"), "closed_at": at + timedelta(hours=1),
                "exit_reason": ExitReason.CLIENT, "market_seconds_held": 3600,
                **snapshot("exit_", at + timedelta(hours=1), spot=26150.125),
            }  # fmt: skip
            trade = await work.add_trade(position, 1, closing)
            # The row and the order that filled it in one insert (one statement on PostgreSQL).
            linked, opening = await work.add_filled_position(
                position_values(opened_at=at, entry_price=Decimal("0.005"),
                                features_snapshot=features, mode=TradeMode.REPLAY),
                order_values(placed_at=at, price=None, ml_score=0.1, average_price=0.005,
                             stop_loss=Decimal("-0.004"), features_snapshot=features),
            )  # fmt: skip
            linked_trade, closed_by = await work.add_trade_with_order(
                linked, 2, closing, order_values(intent="close", side="SELL", lots=2,
                                                 average_price=Decimal("101.105")),
            )  # fmt: skip
            # The lots taken, the trade and the closing order (one statement on PostgreSQL).
            taken, changed, via_close, via_order = await work.close_into_trade(
                linked, 1, at + timedelta(hours=1), lambda _lots: Decimal("0.004"),
                lambda _lots: closing,
                lambda lots: order_values(intent="close", side="SELL", lots=lots, price=None),
            )  # fmt: skip
        assert (taken, changed["quantity_open"], changed["status"]) == (1, 2, "open")
        assert via_order is not None and via_order.trade_id == via_close.id
        assert opening.position_id == linked.id and closed_by.trade_id == linked_trade.id
        after_close = updated(linked, **changed)  # what the close answers of the position
        inserted = (position, order, trade, after_close, opening, linked_trade, closed_by,
                    via_close, via_order)  # fmt: skip
        read = [
            await repository.position(position.id),
            await repository.order(order.id),
            await repository.trade(trade.id),
            await repository.position(linked.id),
            await repository.order(opening.id),
            await repository.trade(linked_trade.id),
            await repository.order(closed_by.id),
            await repository.trade(via_close.id),
            await repository.order(via_order.id),
        ]
        return list(zip(inserted, read, strict=True))

    for inserted, read in run(async_engine, scenario()):
        assert type(inserted) is type(read)
        assert inserted.__dict__ == read.__dict__, {
            k: (v, read.__dict__[k]) for k, v in inserted.__dict__.items() if v != read.__dict__[k]
        }
        for name, value in inserted.__dict__.items():  # the same digits, the same zone
            assert repr(value) == repr(read.__dict__[name]), name


def test_an_order_insert_can_take_its_accounts_lock(async_engine: AsyncEngine) -> None:
    """`add_order(..., lock_account=)` and `add_filled_position(..., lock_account=)` hold the
    account's lock until the transaction ends (another transaction cannot take it), and a taken
    key takes no lock."""
    if async_engine.dialect.name != "postgresql":
        pytest.skip("SQLite's BEGIN IMMEDIATE holds the database's write lock instead")
    repository = Repository(async_engine)
    probe = text("SELECT pg_try_advisory_xact_lock(hashtextextended(:a, 0))")

    async def held_by_other(account: str) -> bool:
        async with async_engine.connect() as other:
            held = not (await other.execute(probe, {"a": account})).scalar_one()
            await other.rollback()
        return held

    async def scenario() -> tuple[bool, bool, bool]:
        async with repository.unit_of_work() as work:
            position = await work.add_position(position_values())
            await work.add_order(order_values(position_id=position.id, client_order_id="lk-1"),
                                 lock_account="lock-test")  # fmt: skip
            held = await held_by_other("lock-test")
        async with repository.unit_of_work() as work:  # a position and its order, one statement
            await work.add_filled_position(
                position_values(), order_values(client_order_id="lk-0"), lock_account="lk0"
            )
            held = held and await held_by_other("lk0")
        held = held and not await held_by_other("lk0")
        try:
            async with repository.unit_of_work() as work:
                await work.add_order(order_values(client_order_id="lk-1"), lock_account="lk2")
        except KeyTaken:
            pass
        async with async_engine.connect() as other:
            free = (await other.execute(probe, {"a": "lock-test"})).scalar_one()
            other_free = (await other.execute(probe, {"a": "lk2"})).scalar_one()
            await other.rollback()
        return held, free, other_free

    held, free_after_commit, not_taken_on_conflict = run(async_engine, scenario())
    assert held and free_after_commit and not_taken_on_conflict


def test_a_missing_position_is_not_found_naming_it(async_engine: AsyncEngine) -> None:
    with pytest.raises(NotFound, match="position 987654 does not exist"):
        run(async_engine, Repository(async_engine).position(987654))


def test_one_lease_holder_at_a_time_until_it_expires(async_engine: AsyncEngine) -> None:
    repository = Repository(async_engine)
    now = OPENED_AT
    later = now + timedelta(seconds=10)
    assert run(async_engine, repository.hold_lease("engine", "a", later, now))
    assert not run(async_engine, repository.hold_lease("engine", "b", later, now))
    assert run(async_engine, repository.hold_lease("engine", "a", later, now))  # renewal
    after = later + timedelta(seconds=1)
    assert run(async_engine, repository.hold_lease("engine", "b", after + timedelta(10), after))
    assert not run(async_engine, repository.hold_lease("engine", "a", after, after))


def test_a_driver_error_is_raised_as_sqlalchemys(async_engine: AsyncEngine) -> None:
    """`statements.run` hands statements to the driver itself; what the driver refuses must
    still reach the error handlers as SQLAlchemy's exception (a NOT NULL column left empty:
    `IntegrityError`, with the driver's error as `orig`), and the unit of work rolls back."""
    repository = Repository(async_engine)

    async def scenario() -> None:
        async with repository.unit_of_work() as work:
            await work.add_position(position_values(underlying=None))

    with pytest.raises(IntegrityError) as raised:
        run(async_engine, scenario())
    assert raised.value.orig is not None and "underlying" in str(raised.value.orig)


def test_a_value_too_long_for_its_column_is_refused_not_cut(async_engine: AsyncEngine) -> None:
    """The order inserted with its position (`add_filled_position`, one statement on PostgreSQL)
    gets its values as parameters of a SELECT: a string longer than its column is refused as a
    plain insert refuses it, never cut to the column's length."""
    if async_engine.dialect.name != "postgresql":
        pytest.skip("SQLite does not enforce VARCHAR lengths")
    repository = Repository(async_engine)

    async def scenario() -> None:
        async with repository.unit_of_work() as work:
            await work.add_filled_position(position_values(), order_values(tag="t" * 65))

    with pytest.raises(DataError):
        run(async_engine, scenario())
