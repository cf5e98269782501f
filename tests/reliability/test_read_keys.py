"""Reads that expose a model's features are open until a read key is set, then need it (or the
API key): the order service's trades, export, manifest and /metrics; the quality service's
certified export and /metrics. Other reads stay open."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from optrade.settings import reset_all_settings
from tests.conftest import TEST_API_KEY
from tests.quality_service.conftest import in_process_quality
from tests.support.factories import insert_trades, trade_values
from tests.support.orders_fakes import FakeMarket, fake_client, in_process_client

READ_KEY = "read-key-0123456789abcdef"
KEYS = {
    "none": {},
    "wrong": {"Authorization": "Bearer not-the-read-key"},
    "read": {"Authorization": f"Bearer {READ_KEY}"},
    "api": {"Authorization": f"Bearer {TEST_API_KEY}"},
}
FEATURE_READS = ["/v1/trades", "/v1/trades/{id}", "/v1/trades/export?format=csv",
                 "/v1/trades/export/manifest", "/metrics"]  # fmt: skip
OPEN_READS = ["/healthz", "/v1/models/performance"]


def _order_app(database_url: str, read_key: str | None) -> Iterator[Any]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATABASE_URL", database_url)
        patch.setenv("API_KEY", TEST_API_KEY)
        if read_key:
            patch.setenv("ORDER_READ_API_KEY", read_key)
        else:
            patch.delenv("ORDER_READ_API_KEY", raising=False)
        reset_all_settings()
        from order_service.main import create_app

        with (
            fake_client(FakeMarket()) as market_data,
            in_process_client(create_app(market_data=market_data)) as client,
        ):
            yield client
    reset_all_settings()


@pytest.fixture
def trade_id(engine: Engine) -> int:
    (stored,) = insert_trades(engine, [trade_values(model_version="read-key")])
    return int(stored)


@pytest.mark.parametrize("read_key", [None, READ_KEY], ids=["unset", "set"])
def test_order_reads_with_features_need_the_read_key_once_it_is_set(
    database_url: str, trade_id: int, read_key: str | None
) -> None:
    for client in _order_app(database_url, read_key):
        for path in FEATURE_READS:
            url = path.format(id=trade_id)
            for name, headers in KEYS.items():
                status = client.get(url, headers=headers).status_code
                closed = read_key is not None and name in ("none", "wrong")
                assert status == (401 if closed else 200), (url, name, status)
        for path in OPEN_READS:
            assert client.get(path).status_code == 200, path


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_certified_export_and_quality_metrics_need_the_read_key_once_it_is_set(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, anyio_backend: str
) -> None:
    env = {"QUALITY_READ_API_KEY": READ_KEY, "API_KEY": TEST_API_KEY}
    async with in_process_quality(monkeypatch, database_url, tmp_path, **env) as client:
        run = (await client.post("/quality/checks", headers=KEYS["api"])).json()
        for url in (f"/quality/runs/{run['id']}/trades?format=csv", "/metrics"):
            for name, headers in KEYS.items():
                status = (await client.get(url, headers=headers)).status_code
                assert status == (401 if name in ("none", "wrong") else 200), (url, name)
        assert (await client.get("/quality/status")).status_code == 200
        assert (await client.get("/quality/dashboard")).status_code == 200
