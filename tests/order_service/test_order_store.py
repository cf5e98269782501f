"""The write path's Core statements (`order_service.store`) on the real database: a taken key is
no row (not an error), a close takes lots once and a taken close key gives them back."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from optrade.db.engine import create_async_db_engine
from optrade.errors import Conflict, NotFound
from order_service import store
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


def test_a_taken_idempotency_key_or_client_order_id_is_no_row(async_engine: AsyncEngine) -> None:
    first = run(
        async_engine,
        store.insert_position(async_engine, position_values(idempotency_key="k1")),
    )
    assert first is not None and first.status == "open" and first.strike == Decimal("26000.00")
    again = run(
        async_engine,
        store.insert_position(async_engine, position_values(idempotency_key="k1")),
    )
    assert again is None
    mine = position_values(client_order_id="c1")
    assert run(async_engine, store.insert_position(async_engine, mine)) is not None
    assert run(async_engine, store.insert_position(async_engine, mine)) is None
    found = run(async_engine, store.position_by(async_engine, "idempotency_key", "k1"))
    assert found.id == first.id


def test_a_close_takes_its_lots_once_and_a_taken_close_key_returns_them(
    async_engine: AsyncEngine,
) -> None:
    position = run(async_engine, store.insert_position(async_engine, position_values()))
    closed_at = OPENED_AT + timedelta(hours=1)

    def closing(lots: int) -> dict[str, Any]:
        return {
            "exit_price": Decimal("110.00"), "exit_price_source": "bid",
            "pnl": Decimal("750.00") * lots, "closed_at": closed_at,
            "close_idempotency_key": "close-1", **snapshot("exit_", closed_at),
        }  # fmt: skip

    trade, after = run(
        async_engine, store.record_close(async_engine, position, 1, closed_at, closing)
    )
    assert (trade.lots, trade.pnl, trade.model_version) == (1, Decimal("750.00"), None)
    assert (after["quantity_open"], after["status"], after["closed_at"]) == (2, "open", None)
    # The same close key again: the trade insert meets it, and the lots taken are rolled back.
    with pytest.raises(store.CloseKeyTaken):
        run(async_engine, store.record_close(async_engine, position, 1, closed_at, closing))
    now = run(async_engine, store.read_position(async_engine, position.id))
    assert now.quantity_open == 2
    # Closing everything (lots None) with a stale count takes what is really left.
    stale = position  # read when 3 lots were open

    def closing_all(lots: int) -> dict[str, Any]:
        return closing(lots) | {"close_idempotency_key": "close-2"}

    trade, after = run(
        async_engine, store.record_close(async_engine, stale, None, closed_at, closing_all)
    )
    assert trade.lots == 2 and after["status"] == "closed" and after["quantity_open"] == 0
    assert after["closed_at"] == closed_at.astimezone(UTC)
    with pytest.raises(Conflict, match="already closed"):
        run(async_engine, store.record_close(async_engine, stale, None, closed_at, closing_all))


def test_a_missing_position_is_a_404_naming_it(async_engine: AsyncEngine) -> None:
    with pytest.raises(NotFound, match="position 987654 does not exist"):
        run(async_engine, store.read_position(async_engine, 987654))
