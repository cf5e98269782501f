"""The client rides out an order-service restart: retries with one key, nothing doubled."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest

from optrade_client import Optrade, RetryPolicy
from tests.clients.conftest import signal, urls
from tests.conftest import TEST_API_KEY
from tests.reliability.conftest import Service

pytestmark = pytest.mark.slow


class CountingTransport(httpx.HTTPTransport):
    """Counts requests that found no server (the restart window)."""

    refused = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return super().handle_request(request)
        except httpx.TransportError:
            CountingTransport.refused += 1
            raise


def test_opens_and_closes_continue_through_an_order_service_restart(
    services: dict[str, Service], contract: dict[str, Any]
) -> None:
    order = services["order"].process
    restarted = threading.Event()

    def restart() -> None:
        time.sleep(1.0)
        order.stop()
        order.start(timeout=120)
        restarted.set()

    policy = RetryPolicy(attempts=400, budget=150.0, backoff=0.1, max_backoff=0.5)
    opened: list[int] = []
    thread = threading.Thread(target=restart)
    with Optrade(urls(services), TEST_API_KEY, retry=policy,
                 transport=CountingTransport()) as client:  # fmt: skip
        thread.start()
        after_restart = 0
        while after_restart < 3:
            position = client.open(symbol=contract["symbol"], lots=2,
                                   **signal(model_version="restart-v1")).position  # fmt: skip
            opened.append(position.id)
            client.close(position.id, lots=1)
            after_restart += restarted.is_set()
        thread.join()
        assert CountingTransport.refused > 0, "no request met the restart: nothing was tested"
        stored = list(client.positions(model_version="restart-v1"))
        trades = list(client.trades(model_version="restart-v1"))
    assert sorted(p.id for p in stored) == sorted(opened)  # every open once, none twice
    assert len(trades) == len(opened) and all(p.lots_open == 1 for p in stored)
