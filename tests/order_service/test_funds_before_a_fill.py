"""A BUY is checked after its rows are written, against the funds the account had before them
(`available_funds(..., before=position)`, inside the fill's unit of work). That figure must be the
one read before the position existed, to the paisa, on both databases: for an account holding
nothing, and for one short on the same underlying (whose margin a new long would lower)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from optrade.db.engine import create_async_db_engine
from order_service.application.accounts import available_funds
from order_service.repository import Repository
from tests.support.factories import EXPIRY, OPENED_AT, snapshot

pytestmark = pytest.mark.both_databases


@pytest.fixture(scope="module")
def async_engine(database_url: str) -> Iterator[AsyncEngine]:
    engine = create_async_db_engine(database_url)
    yield engine
    asyncio.run(engine.dispose())


def position(account: str, side: str, strike: int, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "underlying": "NIFTY", "expiry": EXPIRY, "strike": Decimal(strike), "option_type": "CE",
        "side": side, "lot_size": 75, "lots": 2, "quantity_open": 2,
        "entry_price": Decimal("100.05"), "entry_price_source": "ask", "opened_at": OPENED_AT,
        "mode": "live", "off_hours": False, "features_snapshot": {"x": 1.0}, "account": account,
        "open_entry_charges": Decimal("41.37"), "mark_price": Decimal("98.40"),
        "marked_at": OPENED_AT, "mark_spot": Decimal("26000.00"), "mark_iv": 14.0,
        **snapshot("entry_", OPENED_AT),
    }  # fmt: skip
    return values | overrides


def around_a_buy(engine: AsyncEngine, short_first: bool) -> tuple[Decimal, Decimal, Decimal]:
    """Available funds before a BUY, inside its unit of work after its position is written
    (`before=`), and after it."""
    repository = Repository(engine)
    account = f"before-{uuid.uuid4().hex[:12]}"

    async def scenario() -> tuple[Decimal, Decimal, Decimal]:
        try:
            if short_first:
                async with repository.unit_of_work() as work:
                    await work.add_position(position(account, "SELL", 26000,
                                                     entry_price=Decimal("120.00")))  # fmt: skip
            before = await available_funds(repository, account)
            async with repository.unit_of_work() as work:
                long = await work.add_position(position(account, "BUY", 26100))
                during = await available_funds(repository.bound(work), account, before=long)
                after = await available_funds(repository.bound(work), account)
            return before, during, after
        finally:
            await engine.dispose()  # the pool belongs to this loop

    return asyncio.run(scenario())


def test_a_buy_on_an_empty_account_is_checked_against_the_funds_before_it(
    async_engine: AsyncEngine,
) -> None:
    before, during, after = around_a_buy(async_engine, short_first=False)
    assert during == before
    spent = Decimal("100.05") * 150 + Decimal("41.37")  # the premium and the entry charges
    assert after == before - spent  # a book of longs blocks no margin


def test_a_buy_beside_a_short_is_checked_without_the_margin_it_would_lower(
    async_engine: AsyncEngine,
) -> None:
    before, during, after = around_a_buy(async_engine, short_first=True)
    assert during == before
    # With the long written, the call spread blocks less margin than the naked short did: the
    # funds after it are more than before less what the long paid. `before=` leaves that out.
    spent = Decimal("100.05") * 150 + Decimal("41.37")
    assert after > before - spent
