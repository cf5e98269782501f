"""The dashboard: bars of a fixed width, each run's trade count, every check the runs stored
(open_past_expiry and any added later), readable axes, the trading date, the models link."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from optrade.domain import IST
from quality_service.dashboard import CHAR_WIDTH, MAX_STEP, render_dashboard
from quality_service.schemas import QualityRunPublic, QualityStatus
from tests.quality_service.conftest import TradeFactory, in_process_quality
from tests.quality_service.test_open_past_expiry import open_position

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def client(
    clean_db: Engine, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    env = {"QUALITY_ORDER_SERVICE_URL": "http://orders.example.test/"}
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
    charts = len(re.findall(r'<svg class="trend"', page))
    assert len(widths) == 2 * charts and max(widths) <= MAX_STEP  # not one bar filling the chart
    trend = re.search(r'data-check="entry_greeks"[^>]*>(.*?)</svg>', page, re.S)
    assert trend and re.findall(r'data-trades="(\d+)"', trend.group(1)) == ["2", "5"]
    assert re.findall(r'<text class="bar-label"[^>]*>(\d+)</text>', trend.group(1)) == ["2", "5"]
    assert '<a id="models" href="http://orders.example.test/models">' in page


def _sections(page: str) -> dict[str, str]:
    return dict(re.findall(r'<section data-check="([a-z_]+)">(.*?)</section>', page, re.S))


async def test_every_stored_check_is_charted_and_a_stranded_position_shows_red(
    client: httpx.AsyncClient, api_headers: dict[str, str], add_trades: TradeFactory
) -> None:
    add_trades(2, closed_at=datetime.now(UTC))
    await client.post("/quality/checks", headers=api_headers)
    open_position(client.app.state.engine, date(2025, 11, 25))  # open past its expiry
    run = (await client.post("/quality/checks", headers=api_headers)).json()

    page = (await client.get("/quality/dashboard")).text

    sections = _sections(page)
    assert list(sections) == [c["name"] for c in run["checks"]]  # all six, in the run's order
    stranded = sections["open_past_expiry"]
    assert re.findall(r'<rect class="bar (\w+)"', stranded) == ["pass", "fail"]
    assert re.findall(r'data-count="(\d+)"', stranded) == ["0", "1"]
    assert '<span class="badge fail">fail</span></h2>' in stranded
    assert "allowed 0" in stranded


async def test_a_check_added_later_is_charted_from_the_stored_run(
    client: httpx.AsyncClient, api_headers: dict[str, str], add_trades: TradeFactory
) -> None:
    add_trades(2, closed_at=datetime.now(UTC))
    stored = (await client.post("/quality/checks", headers=api_headers)).json()
    status = QualityStatus.model_validate((await client.get("/quality/status")).json())
    later = {**stored["checks"][0], "name": "later_check", "label": "A later check",
             "status": "fail", "coverage": 40.0, "threshold": 90.0}  # fmt: skip
    run = QualityRunPublic.model_validate({**stored, "checks": [*stored["checks"], later]})

    sections = _sections(render_dashboard(status, [run]))

    assert "later_check" in sections and "A later check" in sections["later_check"]
    assert re.findall(r'<rect class="bar (\w+)"', sections["later_check"]) == ["fail"]
    assert "threshold 90%" in sections["later_check"]
    assert "feature_drift" in sections  # the seventh check, charted without touching the page


async def test_x_axis_labels_name_each_run_and_bar_labels_fit_their_bars(
    client: httpx.AsyncClient, api_headers: dict[str, str], add_trades: TradeFactory
) -> None:
    for n in (1, 2, 3):  # three runs within the same minute
        add_trades(n, closed_at=datetime.now(UTC))
        await client.post("/quality/checks", headers=api_headers)

    page = (await client.get("/quality/dashboard")).text

    trend = _sections(page)["entry_greeks"]
    labels = re.findall(r'<text class="x-label"[^>]*>([^<]+)</text>', trend)
    assert len(labels) == 3 and len(set(labels)) == 3, labels  # one per run, none alike
    for label, width in [
        (text, float(w))
        for w, text in re.findall(
            r'width="([\d.]+)"[^>]*>(?:<title>[^<]*</title>)</rect><text class="bar-label"'
            r"[^>]*>(\d+)</text>",
            trend,
        )
    ]:
        assert len(label) * CHAR_WIDTH <= width + 2


async def test_the_runs_table_has_a_trading_date_column(
    client: httpx.AsyncClient, api_headers: dict[str, str], add_trades: TradeFactory
) -> None:
    add_trades(1, closed_at=datetime.now(UTC))
    run = (await client.post("/quality/checks", headers=api_headers)).json()

    page = (await client.get("/quality/dashboard")).text

    assert "<th>trading date</th>" in page
    today = datetime.now(IST).date().isoformat()  # a manual run over today
    row = re.search(rf'<tr data-run-id="{run["id"]}">(.*?)</tr>', page)
    assert row and f'<td class="trading-date">{today}</td>' in row.group(1)


async def test_the_models_link_follows_order_port_when_no_url_is_given(
    clean_db: Engine, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("QUALITY_ORDER_SERVICE_URL", raising=False)
    async with in_process_quality(monkeypatch, database_url, tmp_path, ORDER_PORT="9123") as c:
        page = (await c.get("/quality/dashboard")).text
    assert '<a id="models" href="http://127.0.0.1:9123/models">' in page
