"""Fixtures of the order-service tests: a replay market of the real NSE snapshots and an order
service on it, started once per module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import INDIA_VIX_FILE
from tests.support.orders_processes import market_data, order_service
from tests.support.processes import ServiceProcess


@pytest.fixture(scope="module")
def replay_market(nse_snapshot_dir: Path) -> Iterator[ServiceProcess]:
    replay = {
        "MARKET_DATA_PROVIDER": "nse-replay",
        "NSE_REPLAY_DIR": str(nse_snapshot_dir),
        "INDIA_VIX_FILE": str(INDIA_VIX_FILE),
    }
    with market_data("primary", **replay) as primary:
        yield primary


@pytest.fixture(scope="module")
def orders_on_replay(database_url: str, replay_market: ServiceProcess) -> Iterator[ServiceProcess]:
    orders = order_service(database_url, replay_market.url, "", MARKET_DATA_READ_TIMEOUT="5")
    try:
        yield orders
    finally:
        orders.stop()
