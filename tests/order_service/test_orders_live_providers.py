"""Orders through the running stack on live providers: the primary market-data instance on a fake
OpenAlgo, the fallback on a fake Upstox (real HTTP processes serving the real NSE snapshot of
02-Dec-2025 09:34:45 IST moved to today), the order service on the test database.

One story: orders captured from OpenAlgo; the fake OpenAlgo killed -> the next snapshot says
fallback/upstox; both killed -> 503 to open, `missing` to close with a price; then the backfill
repairs the missing exits from OpenAlgo's own recording, and refuses the simulated market.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from datetime import date, timedelta
from datetime import time as clock_time
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from optrade.clients.market_data import MarketDataClient, MarketDataClientSettings
from optrade.db.models import Trade
from optrade.domain import IST, utcnow
from order_service.ml.backfill import backfill_snapshots
from tests.support.fake_brokers.nse_source import shift_for_today
from tests.support.fake_brokers.processes import MARKET_DATA, SNAPSHOT, fake_broker, live_env
from tests.support.orders_processes import AUTH, order_service
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.slow

MAX_QUOTE_AGE = 15  # seconds: an instant older than this is served from the recording only
NSE_EXPIRY = date(2025, 12, 9)
VIX_CLOSE_2025_12_02 = 11.23
CACHE_SECONDS = 0.5  # a chain answered within this window is served from the instance's cache


def nse_leg(strike: float, side: str) -> dict[str, Any]:
    records = json.loads(SNAPSHOT.read_bytes())["records"]
    row = next(r for r in records["data"] if r["expiryDate"] == "09-Dec-2025"
               and r["strikePrice"] == strike)  # fmt: skip
    leg: dict[str, Any] = row[side]
    return leg


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    logs = tmp_path_factory.mktemp("live-stack")
    recordings = logs / "recordings"
    brokers = {kind: fake_broker(kind, log_dir=logs) for kind in ("openalgo", "upstox")}
    extra = {"LIVE_MAX_QUOTE_AGE": str(MAX_QUOTE_AGE), "OPENALGO_CACHE_SECONDS": str(CACHE_SECONDS),
             "UPSTOX_CACHE_SECONDS": str(CACHE_SECONDS)}  # fmt: skip
    services = {
        "primary": ServiceProcess(MARKET_DATA, log_path=logs / "md-primary.log", env=live_env(
            "openalgo", brokers["openalgo"].url, recordings, MARKET_DATA_INSTANCE="primary",
            **extra)),
        "fallback": ServiceProcess(MARKET_DATA, log_path=logs / "md-fallback.log", env=live_env(
            "upstox", brokers["upstox"].url, recordings, MARKET_DATA_INSTANCE="fallback",
            **extra)),
    }  # fmt: skip
    processes = [*brokers.values(), *services.values()]
    try:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda p: p.start(), processes))
        yield {"brokers": brokers, "services": services, "logs": logs}
    finally:
        for process in processes:
            process.stop()


def order(**overrides: Any) -> dict[str, Any]:
    expiry = NSE_EXPIRY + timedelta(days=shift_for_today(SNAPSHOT))
    body = {"underlying": "NIFTY", "expiry": expiry.isoformat(), "strike": 26100,
            "option_type": "PE", "side": "BUY", "quantity": 3, "ml_score": 0.61,
            "model_version": "live-v1", "model_hash": "ab" * 32,
            "features_snapshot": {"rsi": 48.0}}  # fmt: skip
    return body | overrides


def _session_now() -> str:
    """NSE_SPECIAL_SESSIONS covering the next hour (split at IST midnight): live orders at "now"
    are in session whatever the wall clock says, as during an announced special session, so the
    scenario runs at any hour (outside a session they are 422 market-closed, tested elsewhere)."""
    start = utcnow().astimezone(IST) - timedelta(minutes=2)
    end = start + timedelta(hours=1)
    if end.date() == start.date():
        return json.dumps([f"{start:%Y-%m-%dT%H:%M}/{end:%H:%M}"])
    sessions = [f"{end:%Y-%m-%dT00:00}/{end:%H:%M}"] if end.time() > clock_time(0, 1) else []
    if start.time() < clock_time(23, 58):
        sessions.append(f"{start:%Y-%m-%dT%H:%M}/23:59")
    return json.dumps(sessions)


def test_live_capture_failover_missing_and_honest_backfill(
    live: dict[str, Any], database_url: str, engine: Engine
) -> None:
    md = live["services"]
    log_path = live["logs"] / "orders.log"
    orders = order_service(database_url, md["primary"].url, md["fallback"].url,
                           log_path=log_path, MARKET_DATA_READ_TIMEOUT="10",
                           NSE_SPECIAL_SESSIONS=_session_now())  # fmt: skip
    try:
        with httpx.Client(base_url=orders.url, headers=AUTH, timeout=30) as api:
            opened = [api.post("/v1/orders", json=order()) for _ in range(2)]
            assert [o.status_code for o in opened] == [201, 201], opened[0].text
            position = opened[0].json()["position"]
            nse = nse_leg(26100, "PE")
            assert (position["entry_source"], position["entry_provider"],
                    position["entry_instance"]) == ("primary", "openalgo", "primary")  # fmt: skip
            assert position["entry_upstream_at"] is not None  # OpenAlgo's server_ts
            assert position["entry_market_at_source"] == "upstream"
            assert float(position["entry_price"]) == nse["askPrice"]  # BUY at the real ask
            assert position["entry_oi"] == nse["openInterest"]  # contracts, not units
            assert position["entry_broker_iv"] == nse["impliedVolatility"]
            assert position["entry_iv"] is not None and position["entry_delta"] < 0
            assert position["entry_vix"] == pytest.approx(VIX_CLOSE_2025_12_02)
            first, second = (o.json()["position_id"] for o in opened)

            live["brokers"]["openalgo"].kill()
            time.sleep(CACHE_SECONDS + 0.1)  # the primary's cached chain has expired
            closed = api.post(f"/v1/positions/{first}/close", json={"quantity": 1})
            assert closed.status_code == 200, closed.text
            trade = closed.json()["trade"]
            assert (trade["exit_source"], trade["exit_provider"],
                    trade["exit_instance"]) == ("fallback", "upstox", "fallback")  # fmt: skip
            assert trade["exit_upstream_at"] is None  # Upstox sends no time: our receive time,
            assert trade["exit_market_at_source"] == "received"  # and the snapshot says so
            assert float(trade["exit_price"]) == nse["bidprice"]
            assert "skipped primary" in trade["exit_error"]
            reopened = api.post("/v1/orders", json=order(quantity=1))  # the next order, too
            assert reopened.status_code == 201, reopened.text
            entry = reopened.json()["position"]
            assert (entry["entry_source"], entry["entry_provider"],
                    entry["entry_instance"]) == ("fallback", "upstox", "fallback")  # fmt: skip
            dead = httpx.get(
                f"{md['primary'].url}/v1/chain/NIFTY", params={"expiry": order()["expiry"]}
            )
            assert dead.status_code == 503 and "Retry-After" in dead.headers
            assert dead.json()["type"] == "/problems/provider-unavailable"

            live["brokers"]["upstox"].kill()
            time.sleep(CACHE_SECONDS + 0.1)
            assert api.post("/v1/orders", json=order()).status_code == 503
            assert api.post(f"/v1/positions/{first}/close", json={}).status_code == 503
            missing_ids = []
            for pid in (first, second):
                closed = api.post(f"/v1/positions/{pid}/close", json={"exit_price": 190.5})
                assert closed.status_code == 200, closed.text
                assert closed.json()["trade"]["exit_source"] == "missing"
                missing_ids.append(closed.json()["trade"]["id"])
    finally:
        orders.stop()
    _backfill_uses_the_recording_and_refuses_simulated(live, engine, missing_ids)


def _backfill_uses_the_recording_and_refuses_simulated(
    live: dict[str, Any], engine: Engine, trade_ids: list[int]
) -> None:
    md = live["services"]
    time.sleep(MAX_QUOTE_AGE + 1)  # the closes are now history: only recordings can see them
    simulated = ServiceProcess(MARKET_DATA, env={"APP_ENV": "test", "MARKET_DATA_FAULT": "none",
                                                 "MARKET_DATA_PROVIDER": "simulated"})  # fmt: skip
    with simulated, closing(client(simulated.url)) as quotes:
        refused = backfill_snapshots(engine, quotes)
    assert refused.exit.repaired == 0 and refused.exit.still_missing == len(trade_ids)
    for row in stored(engine, trade_ids):
        assert row.exit_source == "missing"
        assert row.exit_error.startswith("no recorded history for openalgo at ")

    with closing(client(md["primary"].url, md["fallback"].url)) as quotes:
        repaired = backfill_snapshots(engine, quotes)
    assert repaired.exit.repaired == len(trade_ids), repaired
    for row in stored(engine, trade_ids):
        assert (row.exit_source, row.exit_provider) == ("backfill", "openalgo")
        assert row.exit_market_at <= row.closed_at  # the recorded chain at or before the close
        assert row.exit_bid is not None and row.exit_delta is not None


def client(primary: str, fallback: str | None = None) -> MarketDataClient:
    settings = MarketDataClientSettings(primary_url=primary, fallback_url=fallback,
                                        read_timeout=10)  # fmt: skip
    return MarketDataClient.from_settings(settings)


def stored(engine: Engine, ids: list[int]) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(select(Trade).where(Trade.id.in_(ids))))  # type: ignore[attr-defined]
