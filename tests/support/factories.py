"""Closed trades written straight into the database, as the order service would have stored them."""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, text

from optrade.db.models import Position, Trade, carried_trade_fields, trade_from_position
from optrade.domain import SNAPSHOT_FIELD_NAMES, PositionStatus, Side

OPENED_AT = datetime(2025, 12, 1, 4, 0, tzinfo=UTC)  # 09:30 IST, Monday
EXPIRY = date(2025, 12, 2)

LIVE_SNAPSHOT: dict[str, Any] = {
    "delta": 0.5, "gamma": 0.001, "theta": -12.0, "vega": 8.0, "iv": 14.0,
    "iv_source": "own", "forward": 26010.0, "rate": 0.065, "t_years": 0.0027,
    "ltp": Decimal("100.00"), "bid": Decimal("99.95"), "ask": Decimal("100.05"),
    "oi": 120000.0, "volume": 50000, "spot": Decimal("26000.00"), "vix": 12.5, "pcr": 0.9,
    "source": "primary", "error": None,
}  # fmt: skip


def snapshot(prefix: str, at: datetime, **values: Any) -> dict[str, Any]:
    """A full snapshot's columns with `prefix`, captured live at `at`, overridden by `values`."""
    stamps = {"market_at": at, "captured_at": at}
    merged = dict.fromkeys(SNAPSHOT_FIELD_NAMES) | LIVE_SNAPSHOT | stamps
    merged |= values
    return {prefix + name: value for name, value in merged.items()}


def missing_snapshot(prefix: str, at: datetime | None, error: str) -> dict[str, Any]:
    """What the order service stores when no provider answered: the market time and why."""
    values = dict.fromkeys(SNAPSHOT_FIELD_NAMES) | {
        "market_at": at,
        "source": "missing",
        "error": error,
    }
    return {prefix + name: value for name, value in values.items()}


def trade_values(
    *,
    side: str = "BUY",
    lots: int = 1,
    lot_size: int = 75,
    entry_price: str = "100.00",
    exit_price: str = "110.00",
    opened_at: datetime = OPENED_AT,
    held: timedelta = timedelta(hours=2),
    entry: dict[str, Any] | None = None,
    exit: dict[str, Any] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """Column values of one trade (pnl computed from prices, side, lots and lot size)."""
    sign = Side(side).sign
    closed_at = opened_at + held
    pnl = (Decimal(exit_price) - Decimal(entry_price)) * lots * lot_size * sign
    values: dict[str, Any] = {
        "underlying": "NIFTY", "expiry": EXPIRY, "strike": Decimal("26000"),
        "option_type": "CE", "side": side, "lot_size": lot_size, "lots": lots,
        "entry_price": Decimal(entry_price), "entry_price_source": "ask",
        "exit_price": Decimal(exit_price), "exit_price_source": "bid",
        "pnl": pnl, "opened_at": opened_at, "closed_at": closed_at,
        "ml_score": 0.7, "model_version": "v1", "model_hash": "h1",
        "features_snapshot": {"rsi_14": 55.0},
    }  # fmt: skip
    values |= entry if entry is not None else snapshot("entry_", opened_at)
    values |= exit if exit is not None else snapshot("exit_", closed_at, spot=Decimal("26040"))
    return values | overrides


# PostgreSQL's triggers on `trade` (migration 0015) update the account's running totals once
# per trade; many thousands of trades in one transaction pile up versions of that one row that
# cannot be pruned before the commit (1.3 ms a trade at 20,000, growing). A bulk seed turns
# them off inside its transaction (its lock keeps other writers out until the commit) and sets
# the totals from the trades once. The order service writes one trade per transaction.
_KEPT_TOTALS = """
INSERT INTO account_trade_totals (account, realized, charges, trades)
SELECT account, COALESCE(SUM(pnl), 0), COALESCE(SUM(charges), 0), COUNT(*) FROM trade
GROUP BY account
ON CONFLICT (account) DO UPDATE SET realized = excluded.realized, charges = excluded.charges,
    trades = excluded.trades
"""


@contextmanager
def bulk_trades(connection: Connection) -> Iterator[None]:
    """Trades inserted in bulk inside `connection`'s transaction: on PostgreSQL the running
    totals' triggers are off while the block runs and the totals are set from the trades once
    after it (`_KEPT_TOTALS`)."""
    postgres = connection.dialect.name == "postgresql"
    if postgres:
        connection.execute(text("ALTER TABLE trade DISABLE TRIGGER USER"))
    yield
    if postgres:
        connection.execute(text("ALTER TABLE trade ENABLE TRIGGER USER"))
        connection.execute(text(_KEPT_TOTALS))


def insert_trades(
    engine: Engine, trades: Iterable[dict[str, Any]], chunk: int = 5_000
) -> list[int]:
    """Store each trade with a closed position of its own; return the trade ids in order.

    Ids are assigned here (after the highest stored one) so that rows go in as plain multi-row
    inserts, fast enough to seed the 100k-trade benchmark; PostgreSQL's sequences are moved past
    them afterwards so the order service's own inserts never collide.
    """
    with engine.begin() as connection, bulk_trades(connection):
        postgres = connection.dialect.name == "postgresql"
        next_id = _next_id(connection)
        ids: list[int] = []
        batch: list[dict[str, Any]] = []
        for values in trades:
            batch.append(values)
            if len(batch) >= chunk:
                ids += _insert_chunk(connection, batch, next_id + len(ids))
                batch = []
        if batch:
            ids += _insert_chunk(connection, batch, next_id + len(ids))
        if postgres:
            for table in ("position", "trade"):
                connection.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                         f"(SELECT max(id) FROM {table}))")
                )  # fmt: skip
    return ids


def _next_id(connection: Connection) -> int:
    highest = [
        connection.execute(select(func.max(table.id))).scalar() or 0 for table in (Position, Trade)
    ]
    return max(highest) + 1


def _columns(row: Position | Trade) -> dict[str, Any]:
    columns = type(row).__table__.columns  # type: ignore[union-attr]
    return {column.key: getattr(row, column.key) for column in columns}


def _insert_chunk(connection: Connection, trades: list[dict[str, Any]], first_id: int) -> list[int]:
    """Each trade with the closed position it came from, built as the order service builds them:
    the position first, then the trade carried over from it by `trade_from_position`."""
    carried = set(carried_trade_fields())
    ids = list(range(first_id, first_id + len(trades)))
    positions, rows = [], []
    for trade_id, values in zip(ids, trades, strict=True):
        position = Position.model_construct(
            id=trade_id,
            **{name: value for name, value in values.items() if name in carried},
            lots=values["lots"],
            quantity_open=0,
            status=PositionStatus.CLOSED,
            closed_at=values["closed_at"],
            updated_at=values["closed_at"],
        )
        closing = {name: value for name, value in values.items() if name not in carried}
        trade = trade_from_position(position, id=trade_id, **closing)
        positions.append(_columns(position))
        rows.append(_columns(trade))
    connection.execute(insert(Position), positions)
    connection.execute(insert(Trade), rows)
    return ids


def random_trades(count: int, *, seed: int = 7, start: datetime = OPENED_AT) -> Iterable[dict]:
    """`count` varied, plausible trades (for volume tests and the export benchmark)."""
    rng = random.Random(seed)
    for i in range(count):
        opened = start + timedelta(minutes=i)
        held = timedelta(seconds=rng.randint(60, 6 * 3600))
        entry_price = Decimal(rng.randint(200, 4000)) / 20
        exit_price = max(Decimal("0.05"), entry_price + Decimal(rng.randint(-400, 400)) / 20)
        features = {
            "rsi_14": rng.uniform(0, 100),
            "macd": {"fast": rng.gauss(0, 1), "slow": rng.gauss(0, 1)},
            "regime": rng.choice(["trend", "range"]),
            "gap_up": rng.random() < 0.5,
        }
        yield trade_values(
            side=rng.choice(list(Side)),
            lots=rng.randint(1, 5),
            entry_price=str(entry_price),
            exit_price=str(exit_price),
            opened_at=opened,
            held=held,
            exit=snapshot("exit_", opened + held, spot=Decimal(26000 + rng.randint(-200, 200))),
            model_version=rng.choice(["v1", "v2", None]),
            features_snapshot=features,
        )
