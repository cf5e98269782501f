"""The HTTP API in-process: status, run now (JSON and text), stored runs, dashboard, metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from optrade.calendar import coverage_warning
from optrade.domain import IST
from tests.quality_service.conftest import TradeFactory, in_process_quality

pytestmark = pytest.mark.anyio
Client = httpx.AsyncClient


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def client(
    clean_db: Engine, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    async with in_process_quality(monkeypatch, database_url, tmp_path, LOG_JSON="false") as c:
        yield c


def _today(add_trades: TradeFactory, count: int, **gaps: object) -> list[int]:
    return add_trades(count, closed_at=datetime.now(UTC), **gaps)


async def test_status_before_any_run(client: Client) -> None:
    body = (await client.get("/quality/status")).json()

    assert body["status"] == "never_run"
    assert body["latest_run"] is None and body["recent_runs"] == []
    assert body["next_scheduled_run"].endswith("T15:45:00+05:30")
    assert body["calendar_warning"] == coverage_warning(datetime.now(IST).date())
    assert isinstance(body["overdue"], bool)


async def test_running_checks_needs_the_api_key(client: Client) -> None:
    response = await client.post("/quality/checks")

    assert response.status_code == 401
    assert response.json()["type"] == "/problems/unauthorized"


@pytest.mark.parametrize("days", ["0", "91", "x"])
async def test_lookback_days_is_validated(
    client: Client, api_headers: dict[str, str], days: str
) -> None:
    response = await client.post(f"/quality/checks?lookback_days={days}", headers=api_headers)

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "lookback_days"


async def test_run_now_returns_and_stores_the_run(
    client: Client, api_headers: dict[str, str], add_trades: TradeFactory
) -> None:
    _today(add_trades, 19)
    [gap] = _today(add_trades, 1, entry_vix=None)

    response = await client.post("/quality/checks", headers=api_headers)

    assert response.status_code == 201
    run = response.json()
    assert (run["trigger"], run["status"], run["total_trades"]) == ("manual", "warn", 20)
    context = next(c for c in run["checks"] if c["name"] == "market_context")
    assert (context["passed"], context["coverage"], context["status"]) == (19, 95.0, "warn")
    assert context["failing_trade_ids"] == [gap]
    assert run["alerts"] == []  # alerts are sent after the response and stored on the run
    assert (await client.get(f"/quality/runs/{run['id']}")).json() == run

    status = (await client.get("/quality/status")).json()
    assert status["status"] == "warn" and status["latest_run"]["id"] == run["id"]
    assert [c["name"] for c in status["checks"]][0] == "entry_greeks"
    assert status["recent_runs"][0]["coverage"]["market_context"] == 95.0


async def test_run_now_as_text_report(
    client: Client, api_headers: dict[str, str], add_trades: TradeFactory
) -> None:
    _today(add_trades, 24)

    response = await client.post("/quality/checks?lookback_days=7&format=text", headers=api_headers)

    assert response.status_code == 201
    assert response.headers["content-type"].startswith("text/plain")
    lines = response.text.splitlines()
    assert lines[:3] == [
        "=== DATA QUALITY CHECK ===",
        "Checking 24 trades from the last 7 days",
        "1. Entry Greeks Coverage: 100.0%",
    ]
    assert lines[-1] == "All data quality checks PASSED! ✅"


async def test_runs_are_paginated_newest_first_and_a_missing_run_is_404(
    client: Client, api_headers: dict[str, str]
) -> None:
    ids = [
        (await client.post("/quality/checks", headers=api_headers)).json()["id"] for _ in range(3)
    ]

    first = (await client.get("/quality/runs?limit=2")).json()
    rest = (await client.get("/quality/runs?limit=2&offset=2")).json()

    assert [r["id"] for r in first["items"]] == ids[::-1][:2]
    assert (first["total"], first["limit"], first["offset"]) == (3, 2, 0)
    assert [r["id"] for r in rest["items"]] == ids[:1]
    assert first["items"][0]["status"] == "no_data"
    missing = await client.get("/quality/runs/99999")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json() == {
        "type": "/problems/not-found",
        "title": "Not found",
        "status": 404,
        "detail": "quality run 99999 not found",
    }
    text = (await client.get(f"/quality/runs/{ids[0]}?format=text")).text
    assert text.splitlines()[1] == "Checking 0 trades from today"


async def test_metrics_report_the_latest_coverage_per_check(
    client: Client, api_headers: dict[str, str], add_trades: TradeFactory
) -> None:
    _today(add_trades, 3)
    _today(add_trades, 1, exit_oi=None)
    await client.post("/quality/checks", headers=api_headers)

    metrics = (await client.get("/metrics")).text

    assert 'quality_check_coverage_ratio{check="chain_data"} 0.75' in metrics
    assert 'quality_check_coverage_ratio{check="entry_greeks"} 1.0' in metrics
    assert 'quality_check_status{check="chain_data",status="fail"} 1.0' in metrics
    assert 'quality_runs_total{status="fail",trigger="manual"}' in metrics
    assert "quality_scheduled_run_overdue" in metrics


async def test_readiness_pings_database_and_broker(client: Client) -> None:
    ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}

    client.app.state.broker_url = "redis://127.0.0.1:1/0"  # type: ignore[attr-defined]
    not_ready = await client.get("/readyz")
    assert not_ready.status_code == 503
    assert not_ready.json()["checks"]["broker"].startswith("error:")


async def test_dashboard_is_html_with_a_trend_per_check(
    client: Client, api_headers: dict[str, str], add_trades: TradeFactory
) -> None:
    _today(add_trades, 2)
    await client.post("/quality/checks", headers=api_headers)
    run = (await client.post("/quality/checks", headers=api_headers)).json()

    page = await client.get("/quality/dashboard")

    assert page.headers["content-type"].startswith("text/html")
    checks = len(run["checks"])  # every check a run stores, open_past_expiry included
    assert checks >= 6 and page.text.count('<svg class="trend"') == checks
    assert page.text.count('<rect class="bar pass"') == 2 * checks


async def test_a_failing_run_records_its_alert_after_the_response(
    client: Client, api_headers: dict[str, str], add_trades: TradeFactory
) -> None:
    _today(add_trades, 2, model_hash=None)

    run = (await client.post("/quality/checks", headers=api_headers)).json()

    stored = (await client.get(f"/quality/runs/{run['id']}")).json()
    assert stored["status"] == "fail"
    assert stored["alerts"] == [
        {
            "check": "ml_metadata",
            "kind": "failure",
            "delivered": False,
            "error": "no alert channel configured (ALERT_URLS or QUALITY_WEBHOOK_URL)",
        }
    ]


# kombu's SQLAlchemy transport (the serverless default broker) maps its tables with lazy="noload",
# deprecated in SQLAlchemy 2.1; the API meets it as the producer.
@pytest.mark.filterwarnings(
    "ignore:The ``noload`` loader strategy is deprecated:sqlalchemy.exc.SADeprecationWarning"
)
async def test_queueing_a_backfill_needs_the_key_and_a_trading_date(
    client: Client, api_headers: dict[str, str]
) -> None:
    path = "/quality/backfills"
    assert (await client.post(path, params={"trading_date": "2025-12-02"})).status_code == 401
    holiday = await client.post(path, params={"trading_date": "2025-12-25"}, headers=api_headers)
    assert holiday.status_code == 422
    assert "trading_date" in holiday.text and "not an NSE trading day" in holiday.text
    garbled = await client.post(path, params={"trading_date": "2025-13-40"}, headers=api_headers)
    assert garbled.status_code == 422 and "trading_date" in garbled.text

    queued = await client.post(path, params={"trading_date": "2025-12-02"}, headers=api_headers)
    assert queued.status_code == 202, queued.text
    body = queued.json()
    assert (body["task"], body["trading_date"]) == ("quality.backfill_and_recheck", "2025-12-02")


async def test_checks_take_a_from_to_window_and_count_live_trades_unless_asked(
    client: Client, api_headers: dict[str, str], add_trades: TradeFactory
) -> None:
    live = _today(add_trades, 2)
    replay = _today(add_trades, 1, mode="replay")
    earlier = add_trades(1, closed_at=datetime(2025, 12, 2, 11, 0, tzinfo=IST))

    async def check(**params: str) -> dict:
        response = await client.post("/quality/checks", params=params, headers=api_headers)
        assert response.status_code == 201, response.text
        return response.json()

    assert (await check())["total_trades"] == 2  # today's live trades only
    replayed = await check(mode="replay")
    assert (replayed["total_trades"], replayed["mode"]) == (1, "replay")
    assert (await check(mode="all"))["total_trades"] == 3
    window = await check(**{"from": "2025-12-02", "to": "2025-12-03"})
    assert window["total_trades"] == 1 and window["window_label"].startswith("2025-12-02 00:00")
    exported = await client.get(f"/quality/runs/{window['id']}/trades", params={"format": "csv"})
    assert exported.status_code == 200 and exported.headers["x-trade-count"] == "1"
    assert exported.text.splitlines()[1].startswith(f"{earlier[0]},")
    assert live and replay

    reversed_window = await client.post(
        "/quality/checks", params={"from": "2025-12-03", "to": "2025-12-02"}, headers=api_headers
    )
    assert reversed_window.status_code == 422 and "to" in reversed_window.text
    half = await client.post("/quality/checks", params={"from": "2025-12-03"}, headers=api_headers)
    assert half.status_code == 422 and "from and to go together" in half.text
    bad_mode = await client.post("/quality/checks", params={"mode": "x"}, headers=api_headers)
    assert bad_mode.status_code == 422 and "mode" in bad_mode.text


async def test_without_the_parquet_extra_csv_still_exports_and_parquet_is_a_clear_501(
    client: Client, api_headers: dict[str, str], add_trades: TradeFactory, monkeypatch
) -> None:
    """The worker/beat image has no pyarrow: CSV needs none, Parquet says what is missing."""
    import sys

    ids = _today(add_trades, 2)
    run = await client.post("/quality/checks", headers=api_headers)
    assert run.status_code == 201, run.text
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow now raises ImportError

    parquet = await client.get(f"/quality/runs/{run.json()['id']}/trades")
    assert parquet.status_code == 501, parquet.text
    assert parquet.json()["type"] == "/problems/not-installed"
    assert "format=csv" in parquet.json()["detail"] and "parquet" in parquet.json()["detail"]

    url = f"/quality/runs/{run.json()['id']}/trades"
    exported = await client.get(url, params={"format": "csv"})
    assert exported.status_code == 200 and exported.headers["x-trade-count"] == "2"
    lines = exported.text.splitlines()
    assert lines[0].startswith("id,position_id,") and len(lines) == 3
    assert sorted(int(line.split(",", 1)[0]) for line in lines[1:]) == sorted(ids)
