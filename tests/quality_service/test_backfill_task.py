"""The quality worker's side of the backfill: batches asked of the order service until done."""

from __future__ import annotations

import time

import httpx
import pytest

from quality_service.backfill import OrderServiceSettings, request_backfill
from tests.conftest import TEST_API_KEY

SIDE = {"examined": 2, "repaired": 1, "still_missing": 1, "skipped": 0}


def test_batches_resume_after_the_last_id_until_none_is_left() -> None:
    asked: list[httpx.Request] = []

    def order_service(request: httpx.Request) -> httpx.Response:
        asked.append(request)
        after = int(request.url.params["after_id"])
        return httpx.Response(
            200, json={"entry": SIDE, "exit": SIDE, "next_after_id": 7 if after == 0 else None}
        )

    settings = OrderServiceSettings(url="http://order.test", backfill_batch=2)
    totals = request_backfill(settings, transport=httpx.MockTransport(order_service))
    assert [r.url.params["after_id"] for r in asked] == ["0", "7"]
    assert {r.url.params["limit"] for r in asked} == {"2"}
    assert {r.headers["authorization"] for r in asked} == {f"Bearer {TEST_API_KEY}"}
    assert totals == {
        "batches": 2,
        "entry": {k: 2 * v for k, v in SIDE.items()},
        "exit": {k: 2 * v for k, v in SIDE.items()},
    }


def test_a_refused_batch_fails_the_task() -> None:
    refuse = httpx.MockTransport(lambda _: httpx.Response(401, json={"type": "unauthorized"}))
    with pytest.raises(httpx.HTTPStatusError):
        request_backfill(OrderServiceSettings(url="http://order.test"), transport=refuse)


def test_the_worker_sends_its_own_order_service_key_when_one_is_set() -> None:
    asked: list[httpx.Request] = []

    def order_service(request: httpx.Request) -> httpx.Response:
        asked.append(request)
        return httpx.Response(200, json={"entry": SIDE, "exit": SIDE, "next_after_id": None})

    settings = OrderServiceSettings(url="http://order.test", api_key="worker-own-key")
    request_backfill(settings, transport=httpx.MockTransport(order_service))
    assert [r.headers["authorization"] for r in asked] == ["Bearer worker-own-key"]


def test_the_start_up_catch_up_waits_for_the_order_service_to_answer() -> None:
    from quality_service.backfill import wait_for_order_service
    from tests.support.http_sink import http_sink
    from tests.support.processes import free_port

    slept: list[float] = []
    with http_sink() as orders:
        settings = OrderServiceSettings(url=orders.url, startup_wait_seconds=5)
        assert wait_for_order_service(settings, sleep=slept.append)
        assert [r.path for r in orders.received] == ["/healthz"] and slept == []
    gone = OrderServiceSettings(url=f"http://127.0.0.1:{free_port()}", startup_wait_seconds=0.3)
    assert not wait_for_order_service(gone, sleep=lambda s: slept.append(s) or time.sleep(0.1))
    assert slept  # it asked again before giving up
