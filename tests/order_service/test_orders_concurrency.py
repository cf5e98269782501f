"""Idempotency, concurrent closes and auth against the order service as a real process over HTTP,
on the test database (PostgreSQL in CI)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from optrade.db.models import Order, Position, Trade
from tests.conftest import TEST_API_KEY
from tests.support.orders_processes import (
    AUTH,
    SESSION_AT,
    listed_option,
    market_data,
    order_body,
    order_service,
    warm_up,
)
from tests.support.processes import ServiceProcess

pytestmark = [pytest.mark.slow, pytest.mark.both_databases]
WRONG_KEY = "wrong-key-9f8e7d6c5b4a"


@pytest.fixture(scope="module")
def stack(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServiceProcess, dict[str, Any], Path]]:
    log = tmp_path_factory.mktemp("logs") / "order.log"
    with market_data("primary") as primary:
        option = listed_option(primary.url)
        warm_up(primary.url, option)
        # Fifty requests at once queue for a while on a small machine: a lenient read timeout.
        orders = order_service(
            database_url, primary.url, "", log_path=log, MARKET_DATA_READ_TIMEOUT="10"
        )
        try:
            yield orders, option, log
        finally:
            orders.stop()


def all_at_once(
    calls: int, request: Callable[[httpx.Client, int], httpx.Response]
) -> list[httpx.Response]:
    """Run `request(client, index)` from `calls` threads released together."""
    start = threading.Barrier(calls)

    def one(index: int) -> httpx.Response:
        with httpx.Client(headers=AUTH, timeout=60) as client:
            start.wait()
            return request(client, index)

    with ThreadPoolExecutor(calls) as pool:
        return list(pool.map(one, range(calls)))


def open_one(stack: Any, **overrides: Any) -> dict[str, Any]:
    orders, option, _ = stack
    response = httpx.post(
        f"{orders.url}/v1/orders", json=order_body(option, **overrides), headers=AUTH, timeout=30
    )
    assert response.status_code == 201, response.text
    return dict(response.json()["position"])


def closes_at() -> str:
    return (SESSION_AT + timedelta(hours=1)).isoformat()


def test_fifty_identical_concurrent_opens_open_one_position(stack: Any, engine: Engine) -> None:
    orders, option, _ = stack
    body = order_body(option, quantity=2, client_order_id="burst-1", model_version="burst-v1")
    headers = {"Idempotency-Key": "burst-key-1"}
    responses = all_at_once(
        50, lambda client, _: client.post(f"{orders.url}/v1/orders", json=body, headers=headers)
    )
    assert Counter(r.status_code for r in responses) == {201: 50}, [r.text for r in responses][:3]
    assert len({r.json()["id"] for r in responses}) == 1
    assert len({r.json()["position_id"] for r in responses}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 49
    with Session(engine) as session:
        stored = session.exec(
            select(func.count()).where(Order.idempotency_key == "burst-key-1")
        ).one()
        positions = session.exec(
            select(func.count()).where(Position.model_version == body["model_version"])
        ).one()
    assert stored == 1 and positions == 1  # the losers' positions rolled back with their orders


def test_twenty_concurrent_full_closes_make_one_trade(stack: Any, engine: Engine) -> None:
    orders, _, _ = stack
    pid = open_one(stack, quantity=3)["id"]
    responses = all_at_once(
        20,
        lambda client, _: client.post(
            f"{orders.url}/v1/positions/{pid}/close", json={"as_of": closes_at()}
        ),
    )
    assert Counter(r.status_code for r in responses) == {200: 1, 409: 19}
    with Session(engine) as session:
        trades = session.exec(select(Trade).where(Trade.position_id == pid)).all()
        position = session.get(Position, pid)
    assert [t.lots for t in trades] == [3]
    assert position is not None and position.quantity_open == 0 and position.status == "closed"


def test_concurrent_partial_closes_never_take_more_than_is_open(stack: Any, engine: Engine) -> None:
    orders, _, _ = stack
    pid = open_one(stack, quantity=5)["id"]
    sizes = [1, 2] * 10  # 30 lots asked of 5

    def close(client: httpx.Client, index: int) -> httpx.Response:
        body = {"quantity": sizes[index], "as_of": closes_at()}
        return client.post(f"{orders.url}/v1/positions/{pid}/close", json=body)

    responses = all_at_once(20, close)
    assert {r.status_code for r in responses} <= {200, 409}
    with Session(engine) as session:
        trades = session.exec(select(Trade).where(Trade.position_id == pid)).all()
        position = session.get(Position, pid)
    closed = sum(t.lots for t in trades)
    assert position is not None and closed + position.quantity_open == 5
    accepted = [sizes[i] for i, r in enumerate(responses) if r.status_code == 200]
    assert sorted(accepted) == sorted(t.lots for t in trades)
    assert closed >= 4  # only a lone open lot can be left, when every 1-lot close came first


def test_concurrent_closes_with_one_key_close_once(stack: Any, engine: Engine) -> None:
    orders, _, _ = stack
    pid = open_one(stack, quantity=4)["id"]
    body = {"quantity": 1, "as_of": closes_at()}
    headers = {"Idempotency-Key": "close-burst-1"}
    responses = all_at_once(
        10,
        lambda client, _: client.post(
            f"{orders.url}/v1/positions/{pid}/close", json=body, headers=headers
        ),
    )
    assert Counter(r.status_code for r in responses) == {200: 10}
    assert len({r.json()["trade"]["id"] for r in responses}) == 1
    with Session(engine) as session:
        position = session.get(Position, pid)
    assert position is not None and position.quantity_open == 3

    rest = {"as_of": closes_at()}  # everything still open, again ten times with one key
    headers = {"Idempotency-Key": "close-burst-2"}
    responses = all_at_once(
        10,
        lambda client, _: client.post(
            f"{orders.url}/v1/positions/{pid}/close", json=rest, headers=headers
        ),
    )
    assert Counter(r.status_code for r in responses) == {200: 10}, [r.text for r in responses]
    assert {r.json()["trade"]["lots"] for r in responses} == {3}


def test_auth_rejects_without_leaking_the_key(stack: Any, engine: Engine) -> None:
    orders, option, log = stack
    with Session(engine) as session:
        before = session.exec(select(func.count()).select_from(Position)).one()
    for headers in ({}, {"Authorization": f"Bearer {WRONG_KEY}"}, {"Authorization": TEST_API_KEY}):
        response = httpx.post(f"{orders.url}/v1/orders", json=order_body(option), headers=headers)
        assert response.status_code == 401, response.text
        assert TEST_API_KEY not in response.text and WRONG_KEY not in response.text
        closing = httpx.post(f"{orders.url}/v1/positions/1/close", json={}, headers=headers)
        assert closing.status_code == 401
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(Position)).one() == before
    assert httpx.get(f"{orders.url}/v1/positions").status_code == 200  # reads are open
    text = log.read_text()
    assert text, "the order service wrote no log"
    assert TEST_API_KEY not in text and WRONG_KEY not in text
