"""A trade closed while both providers were down is repaired from the simulated market's history,
and the next quality run sees exit coverage rise.

Real processes: a market-data service (simulated) and the order service; the backfill is asked
for the way the quality worker's Celery task asks for it (`request_backfill`), and the quality
run is the check function called directly."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from optrade.db.models import Trade
from quality_service.backfill import OrderServiceSettings, request_backfill
from quality_service.runs import run_backfill_check, run_manual_check
from tests.conftest import TEST_API_KEY
from tests.support.factories import insert_trades, missing_snapshot, snapshot, trade_values
from tests.support.processes import ServiceProcess, free_port

pytestmark = pytest.mark.slow

# Monday 01-Dec-2025: opened 10:00 IST, closed 11:00 IST; the quality run looks at that day.
OPENED_AT = datetime(2025, 12, 1, 4, 30, tzinfo=UTC)
CLOSED_AT = OPENED_AT + timedelta(hours=1)
QUALITY_NOW = datetime(2025, 12, 1, 10, 20, tzinfo=UTC)  # 15:50 IST, after the daily run


@pytest.fixture(scope="module")
def market_data_url() -> Iterator[str]:
    env = {"MARKET_DATA_INSTANCE": "primary", "MARKET_DATA_FAULT": "none", "APP_ENV": "test"}
    with ServiceProcess("market_data_service.main:create_app", env=env) as process:
        yield process.url


@pytest.fixture(scope="module")
def order_url(database_url: str, market_data_url: str) -> Iterator[str]:
    env = {
        "DATABASE_URL": database_url,
        "API_KEY": TEST_API_KEY,
        "APP_ENV": "test",
        "MARKET_DATA_PRIMARY_URL": market_data_url,
        "MARKET_DATA_FALLBACK_URL": f"http://127.0.0.1:{free_port()}",  # still down
        "MARKET_DATA_READ_TIMEOUT": "5",
    }
    with ServiceProcess("order_service.main:create_app", env=env) as process:
        yield process.url


def listed_option(market_data_url: str) -> dict[str, Any]:
    """An at-the-money NIFTY call of the second expiry listed at the time of the trade."""
    answer = httpx.get(
        f"{market_data_url}/v1/underlyings", params={"as_of": OPENED_AT.isoformat()}
    ).raise_for_status()
    nifty = next(u for u in answer.json()["underlyings"] if u["name"] == "NIFTY")
    expiry = nifty["expiries"][1]
    step = nifty["strike_step"]
    return {
        "expiry": date.fromisoformat(expiry["expiry"]),
        "strike": Decimal(round(nifty["spot"] / step) * step),
        "lot_size": expiry["lot_size"],
    }


def exit_coverage(engine: Engine) -> dict[str, Any]:
    # Every mode: the trade opened through the services with a past as_of is a replay trade.
    run = run_manual_check(engine, now=QUALITY_NOW, mode="all", alert=False)
    return next(check for check in run.checks if check["name"] == "exit_greeks")


def test_down_providers_trade_is_repaired_and_coverage_rises(
    engine: Engine, market_data_url: str, order_url: str
) -> None:
    option = listed_option(market_data_url)
    live_exit = snapshot("exit_", CLOSED_AT, delta=0.123, source="fallback")
    down_exit = missing_snapshot("exit_", CLOSED_AT, "all providers: primary: timeout")
    common = {"opened_at": OPENED_AT, "held": CLOSED_AT - OPENED_AT, **option}
    live_id, down_id = insert_trades(
        engine, [trade_values(exit=live_exit, **common), trade_values(exit=down_exit, **common)]
    )
    before = exit_coverage(engine)
    assert (before["total"], before["passed"]) == (2, 1)

    totals = request_backfill(OrderServiceSettings(url=order_url, backfill_batch=1))
    assert totals["exit"] == {"examined": 1, "repaired": 1, "still_missing": 0, "skipped": 0}
    assert totals["batches"] == 2  # a full batch of one trade, then an empty one

    with engine.connect() as connection:
        rows = {
            row["id"]: row
            for row in connection.execute(select(Trade).where(Trade.id.in_([live_id, down_id])))  # type: ignore[attr-defined]
            .mappings()
            .all()
        }
    repaired, live = rows[down_id], rows[live_id]
    assert repaired["exit_source"] == "backfill"
    assert all(repaired[f"exit_{g}"] is not None for g in ("delta", "gamma", "theta", "vega", "iv"))
    assert repaired["exit_spot"] is not None and repaired["exit_pcr"] is not None
    assert abs(repaired["exit_market_at"] - CLOSED_AT) <= timedelta(minutes=2)
    assert (live["exit_source"], live["exit_delta"]) == ("fallback", 0.123)  # never overwritten

    after = exit_coverage(engine)
    assert (after["total"], after["passed"]) == (2, 2) and after["coverage"] > before["coverage"]
    by_source = {g["value"]: g for g in after["breakdown"]["exit_source"]}
    assert (by_source["backfill"]["total"], by_source["backfill"]["passed"]) == (1, 1)

    # The daily backfill run of that date says the same, and counts the repaired trade apart.
    recheck = run_backfill_check(engine, date(2025, 12, 1), totals, now=QUALITY_NOW).run
    exit_greeks = next(check for check in recheck.checks if check["name"] == "exit_greeks")
    assert (exit_greeks["passed"], exit_greeks["backfilled"]) == (2, 1)
    assert recheck.trigger == "backfill" and recheck.details["backfill"] == totals

    again = request_backfill(OrderServiceSettings(url=order_url))
    assert again["batches"] == 1 and again["exit"]["examined"] == 0


def test_a_close_with_both_providers_down_is_repaired_once_the_market_is_back(
    engine: Engine,
) -> None:
    """The whole story through the services: open, both providers die, close at the client's
    price (exit snapshot `missing` with the reason), the primary comes back on its address, the
    backfill repairs the exit snapshot from the simulated market's history, and exit coverage
    rises in the next quality run."""
    port = free_port()
    env = {"MARKET_DATA_INSTANCE": "primary", "MARKET_DATA_FAULT": "none", "APP_ENV": "test"}
    primary = ServiceProcess("market_data_service.main:create_app", env=env, port=port).start()
    orders = ServiceProcess(
        "order_service.main:create_app",
        env={
            "DATABASE_URL": engine.url.render_as_string(hide_password=False),
            "API_KEY": TEST_API_KEY,
            "APP_ENV": "test",
            "MARKET_DATA_PRIMARY_URL": primary.url,
            "MARKET_DATA_FALLBACK_URL": f"http://127.0.0.1:{free_port()}",  # never up
            "MARKET_DATA_READ_TIMEOUT": "5",
        },
    )
    try:
        orders.start()
        option = listed_option(primary.url)
        auth = {"Authorization": f"Bearer {TEST_API_KEY}"}
        with httpx.Client(base_url=orders.url, headers=auth, timeout=30) as api:
            opened = api.post(
                "/v1/orders",
                json={
                    "underlying": "NIFTY",
                    "expiry": option["expiry"].isoformat(),
                    "strike": float(option["strike"]),
                    "option_type": "CE",
                    "side": "BUY",
                    "quantity": 1,
                    "ml_score": 0.6,
                    "model_version": "backfill-e2e",
                    "model_hash": "ab" * 32,
                    "features_snapshot": {"x": 1},
                    "as_of": OPENED_AT.isoformat(),
                },  # fmt: skip
            )
            assert opened.status_code == 201, opened.text
            primary.stop()  # both providers are down now
            closed = api.post(
                f"/v1/positions/{opened.json()['position']['id']}/close",
                json={"exit_price": 101.5, "reason": "stop", "as_of": CLOSED_AT.isoformat()},
            )
            assert closed.status_code == 200, closed.text
            trade = closed.json()["trade"]
            assert trade["exit_source"] == "missing" and trade["exit_delta"] is None
            assert "no market-data provider answered" in trade["exit_error"]
            before = exit_coverage(engine)

            primary = ServiceProcess(
                "market_data_service.main:create_app", env=env, port=port
            ).start()  # back, on the address the order service knows
            totals = request_backfill(OrderServiceSettings(url=orders.url))
            assert totals["exit"]["repaired"] >= 1, totals
            repaired = api.get(f"/v1/trades/{trade['id']}").json()
        assert repaired["exit_source"] == "backfill"
        assert all(repaired[f"exit_{g}"] is not None for g in ("delta", "gamma", "iv", "spot"))
        assert repaired["exit_price"] == trade["exit_price"]  # the fill is history: untouched
        after = exit_coverage(engine)
        assert after["passed"] == before["passed"] + 1 and after["coverage"] > before["coverage"]
    finally:
        orders.stop()
        primary.stop()
