"""The dashboard with few runs: bars of a fixed width, each run's trade count, the models link."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from quality_service.dashboard import MAX_STEP
from tests.quality_service.conftest import TradeFactory, in_process_quality

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def client(
    clean_db: Engine, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    env = {"ORDER_SERVICE_URL": "http://orders.example.test/"}
    async with in_process_quality(monkeypatch, database_url, tmp_path, **env) as c:
        yield c


async def test_two_runs_are_two_narrow_bars_labelled_with_their_trade_counts(
    client: httpx.AsyncClient, api_headers: dict[str, str], add_trades: TradeFactory
) -> None:
    add_trades(2, closed_at=datetime.now(UTC))
    await client.post("/quality/checks", headers=api_headers)
    add_trades(3, closed_at=datetime.now(UTC))
    await client.post("/quality/checks", headers=api_headers)

    page = (await client.get("/quality/dashboard")).text

    widths = [float(w) for w in re.findall(r'<rect class="bar [^"]+"[^>]*width="([\d.]+)"', page)]
    assert len(widths) == 10 and max(widths) <= MAX_STEP  # not one bar filling the chart
    trend = re.search(r'data-check="entry_greeks"[^>]*>(.*?)</svg>', page, re.S)
    assert trend and re.findall(r'data-trades="(\d+)"', trend.group(1)) == ["2", "5"]
    assert re.findall(r'<text class="trades"[^>]*>(\d+)</text>', trend.group(1)) == ["2", "5"]
    assert '<a id="models" href="http://orders.example.test/models">' in page
