"""The venue live: the order engine (a real process) polls a fake OpenAlgo whose prices move.

A stop-loss fires on the first poll after the price falls through it and the exit is captured
from that poll's chain (provider `openalgo`); resting LIMIT orders whose price is reached while
the engine is down fill once, and only once, when it comes back (its state is the database).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text

from tests.order_service.test_orders_live_providers import (
    CACHE_SECONDS,
    MAX_QUOTE_AGE,
    NSE_EXPIRY,
    _session_now,
    nse_leg,
)
from tests.support.fake_brokers.nse_source import shift_for_today
from tests.support.fake_brokers.processes import (
    MARKET_DATA,
    SNAPSHOT,
    control,
    fake_broker,
    live_env,
)
from tests.support.orders_processes import AUTH, EngineProcess, order_service
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.slow
POLL = 0.3  # seconds between two polls of the engine


@pytest.fixture(scope="module")
def venue(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Iterator[dict[str, Any]]:
    logs = tmp_path_factory.mktemp("venue-live")
    broker = fake_broker("openalgo", log_dir=logs).start()
    extra = {"LIVE_MAX_QUOTE_AGE": str(MAX_QUOTE_AGE),
             "OPENALGO_CACHE_SECONDS": str(CACHE_SECONDS)}  # fmt: skip
    env = live_env("openalgo", broker.url, logs / "rec", **extra)
    market = ServiceProcess(MARKET_DATA, log_path=logs / "md.log", env=env)
    market.start()
    sessions = _session_now()
    # A loaded machine answers a live quote in seconds, not the default's fraction of one.
    orders = order_service(
        database_url, market.url, "", log_path=logs / "orders.log",
        NSE_SPECIAL_SESSIONS=sessions, MARKET_DATA_READ_TIMEOUT="10",
    )  # fmt: skip
    env = {"ORDER_ENGINE_POLL_INTERVAL": str(POLL), "NSE_SPECIAL_SESSIONS": sessions,
           "MARKET_DATA_READ_TIMEOUT": "10"}  # fmt: skip
    try:
        yield {"broker": broker, "market": market, "orders": orders, "logs": logs, "env": env}
    finally:
        for process in (orders, market, broker):
            process.stop()


def order(**overrides: Any) -> dict[str, Any]:
    expiry = NSE_EXPIRY + timedelta(days=shift_for_today(SNAPSHOT))
    body = {"underlying": "NIFTY", "expiry": expiry.isoformat(), "strike": 26100,
            "option_type": "PE", "side": "BUY", "lots": 1, "ml_score": 0.61,
            "model_version": "venue-live", "model_hash": "ab" * 32,
            "features_snapshot": {"rsi": 48.0}}  # fmt: skip
    return body | overrides


def tick(price: float, factor: float = 1.0) -> Decimal:
    """A price moved as the fake broker moves it (Python's rounding to the 0.05 tick)."""
    return Decimal(str(round(round(price * factor / 0.05) * 0.05, 2))).quantize(Decimal("0.01"))


def wait_for(check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_a_stop_loss_exit_is_captured_from_the_poll_after_the_price_falls(
    venue: dict[str, Any], database_url: str, tmp_path: Path
) -> None:
    leg = nse_leg(26100, "PE")
    control(venue["broker"], price_factor=1.0)
    time.sleep(CACHE_SECONDS + 0.2)  # the market-data instance's cached chain has turned over
    stop = tick(leg["lastPrice"], 0.8)
    engine = EngineProcess(database_url, venue["market"].url, tmp_path / "engine.log",
                           **venue["env"]).start()  # fmt: skip
    try:
        with httpx.Client(base_url=venue["orders"].url, headers=AUTH, timeout=30) as api:
            placed = api.post("/v1/orders", json=order(stop_loss=str(stop)))
            assert placed.status_code == 201, placed.text
            position_id = placed.json()["position_id"]
            time.sleep(3 * POLL + CACHE_SECONDS)  # polls on the unchanged market: no exit
            assert api.get(f"/v1/positions/{position_id}").json()["status"] == "open"
            control(venue["broker"], price_factor=0.5)
            moved_at = time.monotonic()

            def closed() -> dict[str, Any] | None:
                items = api.get(f"/v1/positions/{position_id}/trades").json()["items"]
                return items[0] if items else None

            trade = wait_for(closed)
            took = time.monotonic() - moved_at
    finally:
        assert engine.stop() == 0, engine.log()
    assert trade["exit_reason"] == "stop_loss"
    assert Decimal(trade["exit_price"]) == tick(leg["bidprice"], 0.5)  # the bid that polled
    assert (trade["exit_provider"], trade["exit_source"]) == ("openalgo", "primary")
    assert trade["exit_delta"] is not None and trade["exit_oi"] is not None
    # Measured, not a benchmark: the first poll after the chain cache turns over fires it.
    assert took < 10, took


def test_resting_orders_reached_while_the_engine_is_down_fill_once_on_its_return(
    venue: dict[str, Any], database_url: str, engine: Engine, tmp_path: Path
) -> None:
    leg = nse_leg(26100, "PE")
    control(venue["broker"], price_factor=1.0)
    time.sleep(CACHE_SECONDS + 0.2)  # the market-data instance's cached chain has turned over
    limit = tick(leg["askPrice"], 0.7)  # below the ask: rests
    with httpx.Client(base_url=venue["orders"].url, headers=AUTH, timeout=30) as api:
        ids = []
        for n in range(3):
            placed = api.post("/v1/orders", json=order(order_type="LIMIT", price=str(limit),
                                                       model_version=f"resting-{n}"))  # fmt: skip
            assert placed.status_code == 201 and placed.json()["status"] == "open", placed.text
            ids.append(placed.json()["id"])
        first = EngineProcess(database_url, venue["market"].url, tmp_path / "e1.log",
                              **venue["env"]).start()  # fmt: skip
        time.sleep(3 * POLL)
        first.stop(9)  # killed mid-session: SIGKILL, its lease left to expire
        control(venue["broker"], price_factor=0.5)  # the ask falls through every limit
        engines = [
            EngineProcess(database_url, venue["market"].url, tmp_path / f"e{n}.log",
                          ORDER_ENGINE_LEASE_SECONDS="2", **venue["env"]).start()
            for n in (2, 3)
        ]  # fmt: skip
        try:

            def all_filled() -> bool:
                statuses = [api.get(f"/v1/orders/{i}").json()["status"] for i in ids]
                return statuses == ["complete"] * 3

            wait_for(all_filled, timeout=60)
            time.sleep(5 * POLL)  # more polls: nothing fills twice
        finally:
            codes = [e.stop() for e in engines]
        assert codes == [0, 0], [e.log() for e in engines]
        for order_id in ids:
            got = api.get(f"/v1/orders/{order_id}").json()
            assert Decimal(got["average_price"]) == limit  # a resting limit fills at its price
    with engine.connect() as connection:
        positions = connection.execute(
            text("SELECT count(*) FROM position WHERE model_version LIKE 'resting-%'")
        ).scalar_one()
    assert positions == 3
