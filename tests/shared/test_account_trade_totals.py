"""`account_trade_totals` (migration 0015) equals the sums over the trades, whoever writes them:
inserts, an update of a trade's pnl, charges or account, and deletes, on both databases."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import Engine, delete, func, select, update

from optrade.db.models import AccountTradeTotals, Position, Trade
from tests.support.factories import insert_trades, trade_values

pytestmark = pytest.mark.both_databases


def kept(engine: Engine) -> dict[str, tuple[Decimal, Decimal, int]]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                AccountTradeTotals.account,
                AccountTradeTotals.realized,
                AccountTradeTotals.charges,
                AccountTradeTotals.trades,
            )
        ).all()
    return {str(a): (Decimal(r).quantize(Decimal("0.01")), Decimal(c).quantize(Decimal("0.01")),
                     int(n)) for a, r, c, n in rows if n}  # fmt: skip


def summed(engine: Engine) -> dict[str, tuple[Decimal, Decimal, int]]:
    query = select(
        Trade.account,
        func.sum(Trade.pnl),
        func.coalesce(func.sum(Trade.charges), 0),
        func.count(),
    ).group_by(Trade.account)
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return {str(a): (Decimal(r).quantize(Decimal("0.01")), Decimal(c).quantize(Decimal("0.01")),
                     int(n)) for a, r, c, n in rows}  # fmt: skip


def test_the_kept_totals_follow_every_write_of_a_trade(engine: Engine) -> None:
    first, second, third = insert_trades(
        engine,
        [
            trade_values(account="alpha", charges=Decimal("40.10")),  # +750.00
            trade_values(account="alpha", exit_price="90.00"),  # -750.00, charges unknown
            trade_values(account="beta", lots=2, charges=Decimal("61.35")),  # +1500.00
        ],
    )
    assert kept(engine) == summed(engine)
    assert kept(engine)["alpha"] == (Decimal("0.00"), Decimal("40.10"), 2)
    assert kept(engine)["beta"] == (Decimal("1500.00"), Decimal("61.35"), 1)

    with engine.begin() as connection:
        connection.execute(
            update(Trade).where(Trade.id == second).values(pnl=Decimal("-12.34"),
                                                           charges=Decimal("5.00"))
        )  # fmt: skip
        connection.execute(update(Trade).where(Trade.id == third).values(account="alpha"))
    assert kept(engine) == summed(engine)
    assert kept(engine)["alpha"] == (Decimal("2237.66"), Decimal("106.45"), 3)
    assert "beta" not in kept(engine)

    with engine.begin() as connection:
        connection.execute(delete(Trade).where(Trade.id == first))
    assert kept(engine)["alpha"] == (Decimal("1487.66"), Decimal("66.35"), 2)
    with engine.begin() as connection:
        connection.execute(delete(Trade))
        connection.execute(delete(Position))
    assert kept(engine) == {}
