"""The HTTP API in-process: status, run now (JSON and text), stored runs, dashboard, metrics."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine

from optrade.calendar import coverage_warning
from optrade.domain import IST, TradeWindow
from optrade.export.trades import plan_export
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
    assert page.text.count('<rect class="bar ') == 2 * checks  # a bar per run and check


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
    tomorrow = (datetime.now(IST).date() + timedelta(days=1)).isoformat()
    for future in ("9999-12-31", tomorrow):  # a run of the future would become `latest_run`
        ahead = await client.post(path, params={"trading_date": future}, headers=api_headers)
        assert ahead.status_code == 422, ahead.text
        problem = ahead.json()
        assert problem["errors"][0]["field"] == "trading_date"
        assert "after today" in problem["errors"][0]["reason"]
    assert (await client.get("/quality/runs")).json()["total"] == 0  # nothing was stored

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
    assert exported.status_code == 200 and exported.headers["x-total-count"] == "1"
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


async def test_the_certified_export_is_the_training_exports_layout_escaped_with_the_run_status(
    client: Client, api_headers: dict[str, str], add_trades: TradeFactory, clean_db: Engine
) -> None:
    """One writer for both exports: flattened features, formula cells escaped, the count in
    X-Total-Count and the run's status in X-Quality-Run-Status (a failing run says so)."""
    ids = _today(add_trades, 2, features_snapshot={"rsi": 41.2, "note": '=HYPERLINK("x")'})
    ids += _today(add_trades, 1, model_hash=None, model_version="@SUM(A1)")  # fails ml_metadata
    run = (await client.post("/quality/checks", headers=api_headers)).json()
    assert run["status"] == "fail"

    url = f"/quality/runs/{run['id']}/trades"
    exported = await client.get(url, params={"format": "csv"})

    assert exported.status_code == 200, exported.text
    headers = exported.headers
    assert (headers["x-total-count"], headers["x-quality-run-status"]) == ("3", "fail")
    assert "x-trade-count" not in headers
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert sorted(int(r["id"]) for r in rows) == sorted(ids)
    training = plan_export(clean_db, TradeWindow(start=None, end=None)).schema.names
    assert list(rows[0]) == training  # the training export's columns, in its order
    assert "features_snapshot" not in rows[0] and "feature_rsi" in rows[0]
    notes = {r["feature_note"] for r in rows}
    assert '\'=HYPERLINK("x")' in notes  # escaped as the training export escapes
    assert "'@SUM(A1)" in {r["model_version"] for r in rows}

    parquet = await client.get(url)
    table = pq.read_table(io.BytesIO(parquet.content))
    assert parquet.headers["x-total-count"] == "3" and table.num_rows == 3
    assert table.schema.names == training
    assert b"optrade.manifest" in table.schema.metadata  # the manifest travels with the file
