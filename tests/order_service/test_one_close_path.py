"""Every close takes one path: a settlement pays charges (with the exercise STT), a close retried
after expiry replays, orders are records of their own, and the order engine settles once.

On the real NSE snapshots of the 02-Dec-2025 NIFTY weekly (`records.index.last` 26032.20): a BUY
of 1 lot (75) of the 26100 PE at 09:34:45 IST fills at the ask, 38.50, and settles at 67.80.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text

from optrade.calendar import IST
from tests.support.orders_processes import AUTH, EngineProcess
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.slow
EXPIRY = "2025-12-02"
OPENED_AT = datetime(2025, 12, 2, 9, 34, 45, tzinfo=IST)
PAISA = Decimal("0.01")


@pytest.fixture
def api(orders_on_replay: ServiceProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=orders_on_replay.url, timeout=60) as client:
        yield client


def paisa(value: Decimal) -> Decimal:
    return value.quantize(PAISA, rounding=ROUND_HALF_UP)


def open_put(api: httpx.Client, model: str, lots: int = 1, **headers: str) -> dict[str, Any]:
    body = {
        "underlying": "NIFTY", "expiry": EXPIRY, "strike": 26100, "option_type": "PE",
        "side": "BUY", "lots": lots, "ml_score": 0.64, "model_version": model,
        "model_hash": "c0ffee0", "features_snapshot": {"rsi": 44.0},
        "as_of": OPENED_AT.isoformat(),
    }  # fmt: skip
    placed = api.post("/v1/orders", json=body, headers={**AUTH, **headers})
    assert placed.status_code == 201, placed.text
    return dict(placed.json())


def entry_charges(turnover: Decimal) -> Decimal:
    """The opening BUY's charges by hand (docs/charges.md, the schedule from 01-Oct-2024)."""
    brokerage = Decimal("20.00")
    exchange = paisa(turnover * Decimal("0.03503") / 100)
    sebi = paisa(turnover * 10 / Decimal(10_000_000))
    ipft = paisa(turnover * 50 / Decimal(10_000_000))  # NSE's IPFT, Rs 50 per crore
    stamp = paisa(turnover * Decimal("0.003") / 100)
    gst = paisa((brokerage + exchange + sebi + ipft) * 18 / 100)
    return brokerage + exchange + sebi + ipft + stamp + gst


def test_an_order_is_its_own_record_with_the_position_it_opened(api: httpx.Client) -> None:
    placed = open_put(api, "orders-v1", **{"Idempotency-Key": "order-record-1"})
    assert (placed["status"], placed["order_type"], placed["intent"]) == (
        "complete", "MARKET", "open"
    )  # fmt: skip
    assert placed["average_price"] == "38.50" and placed["filled_at"] is not None
    position = placed["position"]
    assert placed["position_id"] == position["id"] and position["entry_price"] == "38.50"
    assert placed["idempotency_key"] == "order-record-1" and placed["units"] == 75
    got = api.get(f"/v1/orders/{placed['id']}").json()
    assert (got["status"], got["position_id"]) == ("complete", position["id"])
    listed = api.get("/v1/orders", params={"status": "complete"}).json()
    assert placed["id"] in [o["id"] for o in listed["items"]]
    assert api.get("/v1/orders", params={"status": "nonsense"}).status_code == 422


def test_a_settled_itm_long_pays_the_entry_share_and_the_exercise_stt(
    api: httpx.Client,
) -> None:
    position = open_put(api, "settle-charges")["position"]
    settled = api.post("/v1/settlements/run", params={"expiry": EXPIRY}, headers=AUTH)
    assert settled.status_code == 200, settled.text
    (trade,) = api.get(f"/v1/positions/{position['id']}/trades").json()["items"]
    assert (trade["exit_price"], trade["exit_reason"]) == ("67.80", "settlement")
    entry = entry_charges(Decimal("38.50") * 75)
    exercise_stt = paisa(Decimal("67.80") * 75 * Decimal("0.125") / 100)  # 6.36
    assert exercise_stt == Decimal("6.36")
    assert Decimal(trade["charges"]) == entry + exercise_stt
    assert Decimal(trade["net_pnl"]) == Decimal("2197.50") - entry - exercise_stt
    # Market time held: 09:34:45 to the 15:30 close snapshot, all inside one session.
    entered = datetime.fromisoformat(trade["entry_market_at"])
    exited = datetime.fromisoformat(trade["exit_market_at"])
    assert trade["market_seconds_held"] == (exited - entered).total_seconds() > 21_000
    models = api.get("/v1/models/performance", params={"mode": "replay"}).json()["models"]
    (mine,) = [m for m in models if m["model_version"] == "settle-charges"]
    assert Decimal(str(mine["net_pnl"])) == Decimal(trade["net_pnl"])


def test_a_close_retried_after_expiry_replays_and_another_key_is_409(
    api: httpx.Client,
) -> None:
    position = open_put(api, "settle-retry", lots=3)["position"]
    url = f"/v1/positions/{position['id']}/close"
    first = api.post(url, json={"lots": 1}, headers={**AUTH, "Idempotency-Key": "k-expired"})
    assert first.status_code == 200, first.text
    assert first.json()["trade"]["lots"] == 3  # expired: the whole position settles
    assert first.json()["trade"]["exit_reason"] == "settlement"
    again = api.post(url, json={"lots": 1}, headers={**AUTH, "Idempotency-Key": "k-expired"})
    assert again.status_code == 200, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["trade"] == first.json()["trade"]
    other = api.post(url, json={"lots": 1}, headers={**AUTH, "Idempotency-Key": "k-other"})
    assert other.status_code == 409, other.text
    assert len(api.get(f"/v1/positions/{position['id']}/trades").json()["items"]) == 1


def test_orders_placed_before_the_migration_keep_their_ids(
    api: httpx.Client, engine: Engine
) -> None:
    """The migration gave every position an order with its id; a new order gets its own."""
    with engine.connect() as connection:
        pairs = connection.execute(
            text("SELECT id, position_id, intent FROM \"order\" WHERE intent = 'open'")
        ).all()
    assert pairs and all(order_id is not None for order_id, _, _ in pairs)
    placed = open_put(api, "after-migration")
    got = api.get(f"/v1/orders/{placed['id']}").json()
    assert got["position"]["id"] == placed["position_id"]


def _open_positions(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(
                text("SELECT count(*) FROM position WHERE status = 'open' AND expiry <= :e"),
                {"e": EXPIRY},
            ).scalar_one()
        )


def test_two_engines_at_once_settle_each_position_once(
    api: httpx.Client,
    engine: Engine,
    database_url: str,
    replay_market: Any,
    tmp_path: Path,
) -> None:
    opened = [open_put(api, "two-engines")["position"]["id"] for _ in range(4)]
    engines = [
        EngineProcess(database_url, replay_market.url, tmp_path / f"engine-{n}.log").start()
        for n in (1, 2)
    ]
    try:
        deadline = time.monotonic() + 90
        while _open_positions(engine) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _open_positions(engine) == 0, [e.log() for e in engines]
    finally:
        codes = [e.stop() for e in engines]
    assert codes == [0, 0], [e.log() for e in engines]
    for position_id in opened:
        trades = api.get(f"/v1/positions/{position_id}/trades").json()["items"]
        assert [t["exit_reason"] for t in trades] == ["settlement"]
    logs = [e.log() for e in engines]
    assert sum("leads" in log for log in logs) >= 1
    with engine.connect() as connection:  # the leader let go when it stopped
        assert connection.execute(text("SELECT count(*) FROM engine_lease")).scalar_one() == 0
