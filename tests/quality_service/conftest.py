"""Fixtures of the quality-service tests: a clean trade table and a factory of complete trades
that a test then punches known gaps into."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import Engine, delete
from sqlmodel import Session

from optrade.db.models import Position, QualityRun, Trade, carried_trade_fields, trade_from_position
from optrade.domain import CHAIN_FIELDS, CONTEXT_FIELDS, GREEK_FIELDS, IST, Side
from optrade.settings import reset_all_settings

# Tuesday 2 Dec 2025, a regular NSE session (and a NIFTY weekly expiry).
TRADING_DAY = date(2025, 12, 2)
NOW = datetime(2025, 12, 2, 16, 0, tzinfo=IST)  # after the 15:45 slot
MIDDAY = datetime(2025, 12, 2, 11, 0, tzinfo=IST)

TradeFactory = Callable[..., list[int]]
T = TypeVar("T")


def wait_for(probe: Callable[[], T | None], *, timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.2)
    raise TimeoutError(f"{what} not seen within {timeout}s")


@pytest.fixture
def broker(redis_url: str | None, tmp_path: Path) -> dict[str, str]:
    """Broker, result backend and a queue of this test's own (CI shares one Redis)."""
    if redis_url:
        urls = {"CELERY_BROKER_URL": redis_url, "CELERY_RESULT_BACKEND": redis_url}
    else:
        urls = {
            "CELERY_BROKER_URL": f"sqla+sqlite:///{tmp_path / 'broker.db'}",
            "CELERY_RESULT_BACKEND": f"db+sqlite:///{tmp_path / 'results.db'}",
        }
    return urls | {"CELERY_QUEUE": f"quality-test-{uuid.uuid4().hex[:8]}"}


@asynccontextmanager
async def in_process_quality(
    monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path, **env: str
) -> AsyncIterator[httpx.AsyncClient]:
    """The quality app in-process (lifespan run) on `database_url`, a SQLite broker file and
    `env`, behind an httpx client; the app is at `client.app`."""
    from quality_service.main import create_app

    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("CELERY_BROKER_URL", f"sqla+sqlite:///{tmp_path / 'broker.db'}")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reset_all_settings()
    app = create_app()
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://q.test") as c,
    ):
        c.app = app  # type: ignore[attr-defined]
        yield c


@pytest.fixture(autouse=True)
def _fresh_quality_settings() -> Iterator[None]:
    reset_all_settings()
    yield
    reset_all_settings()


@pytest.fixture(autouse=True)
def _keep_root_logging() -> Iterator[None]:
    """The app's lifespan installs its JSON log handler on the root logger; put pytest's back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers, root.level = handlers, level


def complete_trade_fields() -> dict[str, Any]:
    """Every field the five checks look at, present."""
    fields: dict[str, Any] = {
        "ml_score": 0.71,
        "model_version": "v1",
        "model_hash": "sha256:abc",
        "features_snapshot": {"rsi": 41.2},
        "entry_source": "primary",
        "exit_source": "primary",
    }
    values = {"delta": 0.45, "gamma": 0.002, "theta": -12.5, "vega": 8.1, "iv": 14.2,
              "oi": 125000.0, "volume": 98000, "bid": Decimal("38.40"), "ask": Decimal("38.55"),
              "spot": Decimal("26032.20"), "vix": 11.8, "pcr": 0.92}  # fmt: skip
    for prefix in ("entry_", "exit_"):
        for name in (*GREEK_FIELDS, *CHAIN_FIELDS, *CONTEXT_FIELDS):
            fields[prefix + name] = values[name]
    return fields


@pytest.fixture
def clean_db(engine: Engine) -> Engine:
    with Session(engine) as session:
        for table in (QualityRun, Trade, Position):
            session.exec(delete(table))  # type: ignore[call-overload]
        session.commit()
    return engine


@pytest.fixture
def add_trades(clean_db: Engine) -> TradeFactory:
    """`add_trades(n, closed_at=..., **overrides)` stores n trades and returns their ids.

    Each trade is carried over from the one stored position by `trade_from_position`, as the
    order service builds it; the overrides of a call stand at entry when the position carries
    them (entry snapshot, model metadata) and at exit otherwise.
    """
    opened = datetime(2025, 12, 2, 9, 20, tzinfo=IST)
    entry_price, exit_price, lot_size = Decimal("38.55"), Decimal("41.10"), 75
    opening: dict[str, Any] = {
        "underlying": "NIFTY", "expiry": TRADING_DAY, "strike": Decimal("26000"),
        "option_type": "CE", "side": Side.BUY, "lot_size": lot_size, "entry_price": entry_price,
        "entry_price_source": "ask", "opened_at": opened,
    }  # fmt: skip
    with Session(clean_db) as session:
        stored = Position(**opening, lots=100, quantity_open=0, status="closed")
        session.add(stored)
        session.commit()
        position_id = stored.id
    carried = set(carried_trade_fields())

    def add(count: int = 1, *, closed_at: datetime = MIDDAY, **overrides: Any) -> list[int]:
        fields = complete_trade_fields() | overrides
        position = Position.model_construct(
            id=position_id, **opening, **{k: v for k, v in fields.items() if k in carried}
        )
        closing = {k: v for k, v in fields.items() if k not in carried}
        pnl = (exit_price - entry_price) * lot_size * Side(position.side).sign  # one lot
        trades = [
            trade_from_position(
                position,
                lots=1,
                exit_price=exit_price,
                exit_price_source="bid",
                pnl=pnl,
                closed_at=closed_at.astimezone(UTC),
                **closing,
            )
            for _ in range(count)
        ]
        with Session(clean_db) as session:
            session.add_all(trades)
            session.commit()
            return [t.id for t in trades if t.id is not None]

    return add
