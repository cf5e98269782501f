"""Expiry settlement on the real NSE snapshots of the 02-Dec-2025 NIFTY weekly expiry.

The data README's worked example: BUY 1 lot (75) of the 26100 PE at 09:34:45 IST at the ask,
38.50, held to expiry. NSE's official close that day is 26032.20 (`records.index.last`, while the
last tick `underlyingValue` is 26057.65), so the put settles at 26100 - 26032.20 = 67.80 and the
P&L is (67.80 - 38.50) x 75 = ₹2,197.50.
"""

from __future__ import annotations

import concurrent.futures
import csv
import io
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from optrade.calendar import IST
from quality_service.runs import run_manual_check
from tests.support.orders_processes import AUTH, order_service
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.slow
EXPIRY = "2025-12-02"
OPENED_AT = datetime(2025, 12, 2, 9, 34, 45, tzinfo=IST)


@pytest.fixture
def api(orders_on_replay: ServiceProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=orders_on_replay.url, headers=AUTH, timeout=60) as client:
        yield client


def open_position(
    api: httpx.Client, strike: int = 26100, option_type: str = "PE", model: str = "settle-v1"
) -> dict:
    body = {
        "underlying": "NIFTY", "expiry": EXPIRY, "strike": strike, "option_type": option_type,
        "side": "BUY", "quantity": 1, "ml_score": 0.64, "model_version": model,
        "model_hash": "c0ffee0", "features_snapshot": {"spot": 26122.65},
        "as_of": OPENED_AT.isoformat(),
    }  # fmt: skip
    opened = api.post("/v1/orders", json=body)
    assert opened.status_code == 201, opened.text
    return opened.json()["position"]


def trades_of(api: httpx.Client, position_id: int) -> list[dict[str, Any]]:
    response = api.get(f"/v1/positions/{position_id}/trades")
    assert response.status_code == 200, response.text
    return response.json()["items"]


def run(api: httpx.Client, **params: str) -> dict[str, Any]:
    response = api.post("/v1/settlements/run", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_the_readme_put_held_to_expiry_settles_at_67_80_once(api: httpx.Client) -> None:
    position = open_position(api)
    assert (position["entry_price"], position["entry_price_source"]) == ("38.50", "ask")
    assert api.get(f"/v1/positions/{position['id']}").json()["status"] == "open"

    first = run(api, expiry=EXPIRY)
    (settled,) = [s for s in first["settled"] if s["position_id"] == position["id"]]
    assert settled["settlement_price"] == "26032.20"  # records.index.last, not 26057.65
    assert (settled["exit_price"], settled["pnl"]) == ("67.80", "2197.50")

    (trade,) = trades_of(api, position["id"])
    assert (trade["exit_price"], trade["exit_price_source"]) == ("67.80", "settlement")
    assert Decimal(trade["pnl"]) == (Decimal("67.80") - Decimal("38.50")) * 75
    assert trade["closed_at"] == "2025-12-02T10:00:00Z"  # 15:30 IST on the expiry
    assert (trade["exit_source"], trade["exit_error"], trade["exit_iv"]) == (
        "settlement", "expired", None
    )  # fmt: skip
    # In the money at expiry: a put's delta is -1, and nothing else is left.
    assert (trade["exit_delta"], trade["exit_gamma"], trade["exit_theta"], trade["exit_vega"]) == (
        -1.0, 0.0, 0.0, 0.0
    )  # fmt: skip
    # Spot, VIX and PCR at the close; the option's last quote of the day as chain data.
    assert trade["exit_spot"] == "26032.20" and trade["exit_vix"] == 11.23
    assert round(trade["exit_pcr"], 4) == 0.7368
    assert (trade["exit_bid"], trade["exit_ask"]) == ("67.55", "67.65")
    assert trade["exit_oi"] > 0 and trade["exit_volume"] > 0
    closed = api.get(f"/v1/positions/{position['id']}").json()
    assert (closed["status"], closed["quantity_open"]) == ("closed", 0)

    again = run(api, expiry=EXPIRY)
    assert again["settled"] == [] and again["pending"] == []
    assert len(trades_of(api, position["id"])) == 1


def test_the_settled_trade_passes_every_trade_check(api: httpx.Client, engine: Engine) -> None:
    """Entry captured at 09:34:45 from the replay, exit by settlement: a complete record."""
    position = open_position(api, model="settle-complete")
    run(api, expiry=EXPIRY)
    (trade,) = trades_of(api, position["id"])
    # Opened at a recorded 2025 instant: a replay position, counted with mode=replay.
    models = api.get("/v1/models/performance", params={"mode": "replay"}).json()["models"]
    (mine,) = [m for m in models if m["model_version"] == "settle-complete"]
    assert (mine["trades"], mine["complete_trades"]) == (1, 1)  # no exit IV, still complete
    export = api.get(
        "/v1/trades/export", params={"format": "csv", "model_version": "settle-complete"}
    )
    assert export.status_code == 200, export.text
    (row,) = csv.DictReader(io.StringIO(export.text))
    assert (row["id"], Decimal(row["exit_price"]), row["exit_price_source"]) == (
        str(trade["id"]), Decimal("67.80"), "settlement"
    )  # fmt: skip
    assert (row["exit_source"], row["exit_error"], row["exit_iv"]) == ("settlement", "expired", "")
    now = datetime(2025, 12, 2, 16, 0, tzinfo=IST)
    quality = run_manual_check(engine, now=now, mode="replay", alert=False)  # a replay trade
    assert quality.total_trades >= 1
    checks = {c["name"]: c for c in quality.checks}
    for name in ("entry_greeks", "exit_greeks", "ml_metadata", "market_context", "chain_data"):
        assert trade["id"] not in checks[name]["failing_trade_ids"], name
    assert checks["exit_greeks"]["breakdown"]["exit_source"] == [
        {"value": "settlement", "total": checks["exit_greeks"]["total"],
         "passed": checks["exit_greeks"]["total"], "coverage": 100.0}
    ]  # fmt: skip


def test_an_out_of_the_money_call_settles_at_zero_with_delta_zero(api: httpx.Client) -> None:
    position = open_position(api, strike=26100, option_type="CE")
    run(api)  # every past expiry
    (trade,) = trades_of(api, position["id"])
    assert (trade["exit_price"], trade["exit_delta"]) == ("0.00", 0.0)
    assert Decimal(trade["pnl"]) == -Decimal(position["entry_price"]) * 75


def test_concurrent_runs_settle_each_position_once(api: httpx.Client) -> None:
    positions = [open_position(api, strike=k) for k in (26000, 26050, 26150, 26200)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        runs = list(pool.map(lambda _: run(api, expiry=EXPIRY), range(4)))
    settled = [s["position_id"] for r in runs for s in r["settled"]]
    assert sorted(settled) == sorted(p["id"] for p in positions)  # each once, across the runs
    for p in positions:
        assert len(trades_of(api, p["id"])) == 1


def test_two_order_service_processes_settling_at_once_settle_each_lot_once(
    api: httpx.Client, database_url: str, replay_market: ServiceProcess
) -> None:
    """Two workers (processes) on one database: the unique key and the conditional UPDATE."""
    positions = [open_position(api, strike=k) for k in (25900, 25950, 26250, 26300, 26350)]
    second = order_service(database_url, replay_market.url, "", MARKET_DATA_READ_TIMEOUT="5")
    try:
        with (
            httpx.Client(base_url=second.url, headers=AUTH, timeout=60) as other,
            concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool,
        ):
            runs = list(pool.map(run, [api, other, api, other]))
    finally:
        second.stop()
    settled = [s["position_id"] for r in runs for s in r["settled"]]
    ids = sorted(p["id"] for p in positions)
    # The second process may settle some at its start-up; what the runs settled is never twice.
    assert len(settled) == len(set(settled)) and set(settled) <= set(ids)
    for p in positions:
        (trade,) = trades_of(api, p["id"])
        assert trade["exit_price_source"] == "settlement"
        assert api.get(f"/v1/positions/{p['id']}").json()["quantity_open"] == 0


def test_a_close_after_the_expiry_settles_instead_of_filling_at_the_bid(
    api: httpx.Client,
) -> None:
    """At 15:30 the 26100 PE is bid at 67.55; the holder is paid its settlement value, 67.80."""
    position = open_position(api)
    at_close = datetime(2025, 12, 2, 15, 30, tzinfo=IST).isoformat()
    closed = api.post(f"/v1/positions/{position['id']}/close", json={"as_of": at_close})
    assert closed.status_code == 200, closed.text
    trade = closed.json()["trade"]
    assert (trade["exit_price"], trade["exit_price_source"]) == ("67.80", "settlement")
    assert closed.json()["position"]["status"] == "closed"
    assert run(api, expiry=EXPIRY)["settled"] == []


def test_a_settlement_run_needs_the_api_key(orders_on_replay: ServiceProcess) -> None:
    response = httpx.post(f"{orders_on_replay.url}/v1/settlements/run", timeout=30)
    assert response.status_code == 401


def test_an_expiry_the_data_cannot_settle_stays_open_and_is_reported_pending(
    api: httpx.Client,
) -> None:
    """The replay holds no snapshot of the 09-Dec-2025 close: nothing is invented."""
    body = {"underlying": "NIFTY", "expiry": "2025-12-09", "strike": 26100, "option_type": "CE",
            "side": "SELL", "quantity": 2, "ml_score": 0.3, "model_version": "settle-v1",
            "model_hash": "c0ffee0", "features_snapshot": {"spot": 26122.65},
            "as_of": OPENED_AT.isoformat()}  # fmt: skip
    opened = api.post("/v1/orders", json=body)
    assert opened.status_code == 201, opened.text
    result = run(api)
    (pending,) = result["pending"]
    assert (pending["expiry"], pending["positions"]) == ("2025-12-09", 1)
    assert "no snapshot from the close" in pending["reason"]
    assert api.get(f"/v1/positions/{opened.json()['position']['id']}").json()["status"] == "open"
