"""Capture against real market-data processes: fallback, dead providers, faults, breakers."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from optrade.db.models import Position
from tests.support.orders_fakes import count_rows
from tests.support.orders_processes import (
    AUTH,
    SESSION_AT,
    breaker,
    listed_option,
    market_data,
    order_body,
    order_service,
    warm_up,
)
from tests.support.processes import ServiceProcess, free_port

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def healthy_fallback() -> Iterator[ServiceProcess]:
    with market_data("fallback") as process:
        yield process


@pytest.fixture(scope="module")
def option(healthy_fallback: ServiceProcess) -> dict[str, Any]:
    option = listed_option(healthy_fallback.url)
    warm_up(healthy_fallback.url, option)
    return option


def close_body(**fields: Any) -> dict[str, Any]:
    return {"as_of": (SESSION_AT + timedelta(minutes=30)).isoformat(), **fields}


def test_primary_then_fallback_then_nothing(
    database_url: str,
    engine: Engine,
    healthy_fallback: ServiceProcess,
    option: dict[str, Any],
    tmp_path: Path,
) -> None:
    """The whole failure story on one order service, killing its providers one by one."""
    primary = market_data("primary").start()
    fallback = market_data("fallback").start()
    for process in (primary, fallback):
        warm_up(process.url, option)
    log = tmp_path / "order.log"
    # A lenient read timeout: this test is about which provider answers, not how fast.
    orders = order_service(
        database_url, primary.url, fallback.url, log_path=log, MARKET_DATA_READ_TIMEOUT="5"
    )
    try:
        with httpx.Client(base_url=orders.url, headers=AUTH, timeout=10) as api:
            opened = api.post("/v1/orders", json=order_body(option, quantity=4))
            assert opened.status_code == 201, opened.text
            position = opened.json()["position"]
            assert position["entry_source"] == "primary", position["entry_error"]
            assert position["lot_size"] == option["lot_size"]
            for greek in ("delta", "gamma", "theta", "vega", "iv", "spot", "vix", "pcr"):
                assert position[f"entry_{greek}"] is not None, greek
            pid = position["id"]

            healthy = api.post(f"/v1/positions/{pid}/close", json=close_body(quantity=1))
            assert healthy.json()["trade"]["exit_source"] == "primary"

            primary.kill()
            served_by_fallback = api.post(f"/v1/positions/{pid}/close", json=close_body(quantity=1))
            assert served_by_fallback.status_code == 200, served_by_fallback.text
            trade = served_by_fallback.json()["trade"]
            assert trade["exit_source"] == "fallback"
            assert trade["exit_delta"] is not None and "skipped primary" in trade["exit_error"]

            fallback.kill()
            before = api.get(f"/v1/positions/{pid}").json()
            no_price = api.post(f"/v1/positions/{pid}/close", json=close_body(quantity=1))
            assert no_price.status_code == 503, no_price.text
            assert api.get(f"/v1/positions/{pid}").json() == before  # untouched

            with_price = api.post(
                f"/v1/positions/{pid}/close", json=close_body(quantity=1, exit_price=55.5)
            )
            assert with_price.status_code == 200, with_price.text
            trade = with_price.json()["trade"]
            assert trade["exit_source"] == "missing" and trade["exit_price_source"] == "client"
            assert "no market-data provider answered" in trade["exit_error"]
            assert trade["exit_delta"] is None and trade["entry_delta"] is not None

            positions_before = count_rows(engine, Position)
            dead_open = api.post(
                "/v1/orders", json=order_body(option), headers={"Idempotency-Key": "dead-open"}
            )
            assert dead_open.status_code == 503, dead_open.text
            assert count_rows(engine, Position) == positions_before
    finally:
        orders.stop()
        primary.stop()
        fallback.stop()
    warnings = [line for line in log.read_text().splitlines() if '"WARNING"' in line]
    assert any(f"closing position {pid}" in line and "exit snapshot" in line for line in warnings)


def test_a_misbehaving_primary_is_skipped_and_its_breaker_opens(
    database_url: str, healthy_fallback: ServiceProcess, option: dict[str, Any]
) -> None:
    """Malformed JSON, a stale as_of, 500s, NaN Greeks, then a hang: each is a failure that sends
    the capture to the fallback; the fifth consecutive one opens the breaker, after which the
    hanging primary is not asked and adds no latency."""
    port = free_port()
    orders = order_service(
        database_url,
        f"http://127.0.0.1:{port}",
        healthy_fallback.url,
        MARKET_DATA_BREAKER_FAIL_MAX="5",
        MARKET_DATA_BREAKER_RESET_TIMEOUT="600",
    )
    try:
        with httpx.Client(base_url=orders.url, headers=AUTH, timeout=10) as api:
            for fault in ("garbage", "stale", "error500", "nan"):
                with market_data("primary", port=port, MARKET_DATA_FAULT=fault):
                    opened = api.post("/v1/orders", json=order_body(option))
                assert opened.status_code == 201, opened.text
                position = opened.json()["position"]
                assert position["entry_source"] == "fallback", fault
                assert position["entry_error"].startswith("skipped primary"), fault
                assert position["entry_delta"] is not None
            assert breaker(orders.url, "primary") == "closed"

            timings = []
            with market_data("primary", port=port, MARKET_DATA_FAULT="hang"):
                for _ in range(6):
                    started = time.perf_counter()
                    opened = api.post("/v1/orders", json=order_body(option))
                    timings.append(time.perf_counter() - started)
                    assert (
                        opened.status_code == 201
                        and opened.json()["position"]["entry_source"] == "fallback"
                    )
                state = breaker(orders.url, "primary")
    finally:
        orders.stop()
    assert state == "open"
    # The first waited out the read timeout and opened the breaker; the rest never asked.
    assert statistics.median(timings[1:]) < timings[0] / 3, timings


def test_when_every_breaker_is_open_the_provider_that_came_back_serves_at_once(
    database_url: str, option: dict[str, Any]
) -> None:
    """Both providers die and both breakers open; the primary comes back: the very next order is
    served by it, not refused "not asked" until a background probe (600 s away here) notices."""
    primary_port, fallback_port = free_port(), free_port()
    primary = market_data("primary", port=primary_port).start()
    fallback = market_data("fallback", port=fallback_port).start()
    for process in (primary, fallback):
        warm_up(process.url, option)
    orders = order_service(
        database_url,
        primary.url,
        fallback.url,
        MARKET_DATA_BREAKER_FAIL_MAX="1",
        MARKET_DATA_BREAKER_RESET_TIMEOUT="600",
        MARKET_DATA_READ_TIMEOUT="5",
    )
    try:
        with httpx.Client(base_url=orders.url, headers=AUTH, timeout=30) as api:
            assert api.post("/v1/orders", json=order_body(option)).json()["position"][
                "entry_source"
            ] == ("primary")
            primary.kill()
            fallback.kill()
            for _ in range(2):  # the first opens both breakers, the second finds them open
                refused = api.post("/v1/orders", json=order_body(option))
                assert refused.status_code == 503, refused.text
            for provider in ("primary", "fallback"):
                assert breaker(orders.url, provider) == "open"

            primary = market_data("primary", port=primary_port).start()
            warm_up(primary.url, option)
            served = api.post("/v1/orders", json=order_body(option))
            assert served.status_code == 201, served.text
            assert served.json()["position"]["entry_source"] == "primary"
            assert breaker(orders.url, "primary") == "closed"
            again = api.post("/v1/orders", json=order_body(option))
            assert again.json()["position"]["entry_source"] == "primary"
    finally:
        orders.stop()
        primary.stop()
        fallback.stop()


def test_when_every_breaker_is_open_the_fallback_that_came_back_serves(
    database_url: str, option: dict[str, Any]
) -> None:
    """The same with the fallback returning first: it last answered, so it is asked first."""
    fallback_port = free_port()
    fallback = market_data("fallback", port=fallback_port).start()
    warm_up(fallback.url, option)
    orders = order_service(
        database_url,
        f"http://127.0.0.1:{free_port()}",  # a primary that never runs
        fallback.url,
        MARKET_DATA_BREAKER_FAIL_MAX="1",
        MARKET_DATA_BREAKER_RESET_TIMEOUT="600",
        MARKET_DATA_READ_TIMEOUT="5",
    )
    try:
        with httpx.Client(base_url=orders.url, headers=AUTH, timeout=30) as api:
            assert api.post("/v1/orders", json=order_body(option)).json()["position"][
                "entry_source"
            ] == ("fallback")
            fallback.kill()
            assert api.post("/v1/orders", json=order_body(option)).status_code == 503
            fallback = market_data("fallback", port=fallback_port).start()
            warm_up(fallback.url, option)
            served = api.post("/v1/orders", json=order_body(option))
            assert served.status_code == 201, served.text
            assert served.json()["position"]["entry_source"] == "fallback"
    finally:
        orders.stop()
        fallback.stop()
