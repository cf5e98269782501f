"""On PostgreSQL, psycopg remembers the conversion of the order path's wide inserts (54 and 89
parameters) instead of converting their placeholders again on every execute (issue 11)."""

from __future__ import annotations

import pytest

from optrade.db.engine import create_async_db_engine
from order_service.repository import Repository
from tests.order_service.test_repository import position_values, run


def test_the_wide_inserts_placeholders_are_converted_once(
    database_url: str, database_backend: str
) -> None:
    if database_backend != "postgresql":
        pytest.skip("psycopg's statement conversion: set TEST_DATABASE_URL (CI does)")
    from psycopg import _queries

    engine = create_async_db_engine(database_url)
    repository = Repository(engine)

    async def insert() -> None:
        async with repository.unit_of_work() as work:
            await work.add_position(position_values())

    run(engine, insert())
    before = _queries._query2pg.cache_info()
    run(engine, insert())
    after = _queries._query2pg.cache_info()
    assert after.hits > before.hits and after.misses == before.misses
