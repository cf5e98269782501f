"""End to end with real processes: a Celery worker fed through the broker (Redis when
TEST_REDIS_URL is set, else kombu's SQLite transport), the API under uvicorn over HTTP, and the
dashboard rendered by headless Chromium."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from celery import Celery
from sqlalchemy import Engine
from sqlmodel import Session, select

from optrade.db.models import QualityRun
from quality_service.schedule import latest_due_trading_date
from tests.conftest import TEST_API_KEY
from tests.quality_service.conftest import TradeFactory, wait_for
from tests.quality_service.test_open_past_expiry import open_position
from tests.support.processes import REPO_ROOT, ServiceProcess, free_port
from tests.support.screenshots import colours, screenshot

pytestmark = [
    pytest.mark.slow,
    # kombu's SQLAlchemy transport (the serverless default broker) maps its tables with
    # lazy="noload", deprecated in SQLAlchemy 2.1; only the producer in this process meets it.
    pytest.mark.filterwarnings(
        "ignore:The ``noload`` loader strategy is deprecated:sqlalchemy.exc.SADeprecationWarning"
    ),
]
CHROMIUM = "/usr/bin/chromium"
T = TypeVar("T")


def _runs(engine: Engine, **where: Any) -> list[QualityRun]:
    with Session(engine) as session:
        statement = select(QualityRun).filter_by(**where).order_by(QualityRun.id)  # type: ignore[arg-type]
        return list(session.exec(statement).all())


@pytest.fixture
def worker(
    clean_db: Engine, database_url: str, broker: dict[str, str], tmp_path: Path
) -> Iterator[Path]:
    """`celery -A quality_service.celery_app worker --pool=solo` as a subprocess; yields its log."""
    log_path = tmp_path / "worker.log"
    env = {
        **os.environ, **broker, "DATABASE_URL": database_url, "API_KEY": TEST_API_KEY,
        "QUALITY_CATCH_UP_ON_START": "true",
        "ORDER_SERVICE_STARTUP_WAIT_SECONDS": "1",
        # No order service here: the backfill each stored check queues fails, and says so.
        "ORDER_SERVICE_URL": f"http://127.0.0.1:{free_port()}",
    }  # fmt: skip
    command = [
        sys.executable, "-m", "celery", "-A", "quality_service.celery_app", "worker",
        "--pool=solo", "--loglevel=INFO", "--without-mingle", "--without-gossip",
        "--without-heartbeat", "-n", f"test-{uuid.uuid4().hex[:6]}@%h",
    ]  # fmt: skip
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            command, env=env, cwd=REPO_ROOT, stdout=log, stderr=log, start_new_session=True
        )
    try:
        wait_for(lambda: proc.poll() is not None or "ready." in log_path.read_text(),
                 timeout=60, what="worker ready")  # fmt: skip
        assert proc.poll() is None, log_path.read_text()
        yield log_path
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)


def test_a_real_worker_runs_tasks_sent_through_the_broker(
    worker: Path, broker: dict[str, str], clean_db: Engine, add_trades: TradeFactory
) -> None:
    add_trades(4, closed_at=datetime.now(UTC))
    add_trades(1, closed_at=datetime.now(UTC), exit_delta=None)
    # Worker start-up sent itself a catch-up for the latest due trading date, which had no run.
    due = latest_due_trading_date(datetime.now(UTC))
    catch_up = wait_for(
        lambda: (
            [r for r in _runs(clean_db, trading_date=due) if r.trigger == "backfill"]
            and _runs(clean_db, trading_date=due)
        ),
        timeout=60,
        what="catch-up and the backfill it queued",
    )
    assert [r.trigger for r in catch_up] == ["scheduled", "backfill"]
    assert (catch_up[1].note or "").startswith("backfill failed: ConnectError")

    producer = Celery("test-producer", broker=broker["CELERY_BROKER_URL"],
                      backend=broker["CELERY_RESULT_BACKEND"])  # fmt: skip
    producer.conf.task_default_queue = broker["CELERY_QUEUE"]
    try:
        manual = producer.send_task("quality.run_manual", kwargs={"lookback_days": 1})
        run_id = manual.get(timeout=60)
        twice = [
            producer.send_task("quality.run_scheduled", kwargs={"trading_date": "2025-12-02"})
            for _ in range(2)
        ]
        scheduled_ids = {result.get(timeout=60) for result in twice}
    finally:
        producer.close()

    [stored] = _runs(clean_db, id=run_id)
    assert (stored.trigger, stored.status, stored.total_trades) == ("manual", "fail", 5)
    assert len(scheduled_ids) == 1  # the redundant trigger returned the stored run
    day_runs = _runs(clean_db, trading_date=date(2025, 12, 2))
    assert [r.id for r in day_runs if r.trigger == "scheduled"] == list(scheduled_ids)
    assert "Traceback" not in worker.read_text()


@pytest.fixture(scope="module")
def api(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    tmp = tmp_path_factory.mktemp("api")
    env = {
        "DATABASE_URL": database_url, "API_KEY": TEST_API_KEY, "APP_ENV": "test",
        "CELERY_BROKER_URL": f"sqla+sqlite:///{tmp / 'broker.db'}",
    }  # fmt: skip
    with ServiceProcess("quality_service.main:create_app", env=env, log_path=tmp / "api.log") as p:
        yield p


def test_curl_run_now_prints_the_text_report(
    api: ServiceProcess, add_trades: TradeFactory, api_headers: dict[str, str]
) -> None:
    add_trades(23, closed_at=datetime.now(UTC))
    add_trades(1, closed_at=datetime.now(UTC), exit_bid=None, exit_ask=None)

    response = httpx.post(
        f"{api.url}/quality/checks?lookback_days=7&format=text", headers=api_headers, timeout=30
    )

    assert response.status_code == 201, response.text
    report = response.text.splitlines()
    assert report[:3] == [
        "=== DATA QUALITY CHECK ===",
        "Checking 24 trades from the last 7 days",
        "1. Entry Greeks Coverage: 100.0%",
    ]
    assert "5. Chain Data Coverage: 95.8%" in report
    assert "   Exit Bid: 23/24  ✅" in report
    assert report[-1] == "All data quality checks PASSED! ✅"
    assert httpx.get(f"{api.url}/readyz", timeout=10).json()["status"] == "ready"


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is not installed")
def test_dashboard_renders_in_headless_chromium(
    api: ServiceProcess,
    add_trades: TradeFactory,
    clean_db: Engine,
    api_headers: dict[str, str],
    tmp_path: Path,
) -> None:
    add_trades(9, closed_at=datetime.now(UTC))
    add_trades(1, closed_at=datetime.now(UTC), features_snapshot={})
    for run in range(3):
        if run == 1:  # from the second run on, a position is stranded past its expiry
            open_position(clean_db, date(2025, 11, 25))
        httpx.post(f"{api.url}/quality/checks", headers=api_headers, timeout=30)

    dom = subprocess.run(
        [
            shutil.which("chromium") or CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path}",
            "--dump-dom", f"{api.url}/quality/dashboard",
        ],  # fmt: skip
        capture_output=True, text=True, timeout=90, check=True,
    ).stdout  # fmt: skip

    assert re.search(r'<span id="overall" class="badge fail">fail</span>', dom)
    trends = re.findall(
        r'<svg class="trend" data-check="(\w+)" data-kind="\w+" data-runs="(\d+)"', dom
    )
    assert trends == [
        ("entry_greeks", "3"), ("exit_greeks", "3"), ("ml_metadata", "3"),
        ("market_context", "3"), ("chain_data", "3"), ("open_past_expiry", "3"),
        ("feature_drift", "3"),
    ]  # fmt: skip
    # ML metadata: 90% < 95% in each run; open past expiry: 1 > 0 from the second run.
    assert len(re.findall(r'<rect class="bar fail"', dom)) == 3 + 2
    assert len(re.findall(r'<rect class="bar pass"', dom)) == 12 + 1
    assert dom.count('class="threshold"') == 7
    assert len(set(re.findall(r'<text class="x-label"[^>]*>([^<]+)</text>', dom))) == 3

    # What a person sees: every chart on the page, the failing bars in red.
    shot = screenshot(f"{api.url}/quality/dashboard", tmp_path / "dashboard.png",
                      tmp_path / "profile", size=(900, 2300))  # fmt: skip
    seen = colours(shot)
    red, green = (0xC6, 0x28, 0x28), (0x2E, 0x7D, 0x32)
    assert seen[red] > 5 * 200 and seen[green] > 13 * 200, (seen[red], seen[green])
