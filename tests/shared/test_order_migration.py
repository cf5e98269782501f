"""Migration 0008 makes every existing position's order: same id, the keys moved, `complete`.

A database at revision 0007 holds positions opened by the old path (keys on the position); after
the upgrade each has its order with the position's id, so every order id a client holds keeps
working, and the first new order numbers after them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from optrade.db.engine import create_db_engine
from optrade.db.migrate import upgrade
from tests.conftest import _create_postgres_database, _drop_postgres_database, _postgres_base

pytestmark = pytest.mark.both_databases

OLD_POSITION = (
    "INSERT INTO position (id, underlying, expiry, strike, option_type, side, lot_size, lots, "
    "quantity_open, entry_price, entry_price_source, opened_at, status, updated_at, mode, "
    "off_hours, idempotency_key, client_order_id, request_fingerprint, model_version) VALUES "
    "(:id, 'NIFTY', '2025-12-09', 26100, 'PE', 'BUY', 75, 2, :open, 38.50, 'ask', "
    "'2025-12-02 04:04:45+00:00', :status, '2025-12-02 04:04:45+00:00', 'replay', :off, :key, "
    ":coid, 'f00d', 'v-old')"
)


@pytest.fixture
def at_0007(database_backend: str, tmp_path: object) -> Iterator[str]:
    base = _postgres_base()
    if database_backend == "postgresql" and base:
        url = _create_postgres_database(base)
        upgrade(url, "0007")
        yield url
        _drop_postgres_database(base, url)
    else:
        url = f"sqlite:///{os.path.join(str(tmp_path), 'old.db')}"
        upgrade(url, "0007")
        yield url


def test_every_position_gets_its_order_with_the_same_id_and_the_keys(at_0007: str) -> None:
    engine = create_db_engine(at_0007)
    with engine.begin() as connection:
        for pid, key, coid, status, open_ in ((3, "k-3", "c-3", "open", 2),
                                              (7, None, None, "closed", 0)):  # fmt: skip
            connection.execute(
                text(OLD_POSITION),
                {"id": pid, "key": key, "coid": coid, "status": status, "open": open_,
                 "off": False},
            )  # fmt: skip
    upgrade(at_0007)
    with engine.connect() as connection:
        orders = connection.execute(
            text(
                "SELECT id, position_id, status, intent, order_type, idempotency_key, "
                'client_order_id, request_fingerprint, lots, average_price, mode FROM "order" '
                "ORDER BY id"
            )
        ).all()
        columns = {c for (c,) in connection.execute(text(_columns(engine.dialect.name)))}
    engine.dispose()
    assert [tuple(o[:5]) for o in orders] == [
        (3, 3, "complete", "open", "MARKET"), (7, 7, "complete", "open", "MARKET"),
    ]  # fmt: skip
    assert (orders[0].idempotency_key, orders[0].client_order_id) == ("k-3", "c-3")
    assert orders[0].request_fingerprint == "f00d" and orders[0].lots == 2
    assert float(orders[0].average_price) == 38.5 and orders[0].mode == "replay"
    assert not {"idempotency_key", "client_order_id", "request_fingerprint"} & columns


def _columns(dialect: str) -> str:
    if dialect == "sqlite":
        return "SELECT name FROM pragma_table_info('position')"
    return "SELECT column_name FROM information_schema.columns WHERE table_name = 'position'"
