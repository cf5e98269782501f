"""Celery cannot run one task twice at once: a real prefork worker (time limits need one) on the
broker (Redis when TEST_REDIS_URL is set), a task that outlives its soft limit is interrupted and
retried once, the backfill resumes from its last id, worker lines are JSON with the request id of
the API call that queued the task; and a second beat refuses to start."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from optrade.db.models import QualityRun
from tests.conftest import TEST_API_KEY
from tests.quality_service.conftest import TRADING_DAY, TradeFactory, wait_for
from tests.support.http_sink import Answer, Received, http_sink
from tests.support.processes import REPO_ROOT, ServiceProcess

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings(
        "ignore:The ``noload`` loader strategy is deprecated:sqlalchemy.exc.SADeprecationWarning"
    ),
]
SOFT_LIMIT_S = 8  # a loaded 2-core machine must finish an ordinary step well within it
SIDE = {"examined": 1, "repaired": 1, "still_missing": 0, "skipped": 0}


@contextmanager
def celery_process(
    args: list[str], env: dict[str, str], log_path: Path
) -> Iterator[subprocess.Popen]:
    """`celery -A quality_service.celery_app <args>` as its own process group; stopped after."""
    command = [sys.executable, "-m", "celery", "-A", "quality_service.celery_app", "--quiet", *args]
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            command, env={**os.environ, **env}, cwd=REPO_ROOT, stdout=log, stderr=log,
            start_new_session=True,
        )  # fmt: skip
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)


def _json_lines(log_path: Path) -> list[dict]:
    lines = [line for line in log_path.read_text().splitlines() if line.strip()]
    if os.geteuid() == 0 and lines and "SecurityWarning" in lines[0]:
        # Run as root (tests are, the image is not: uid 10001), Celery warns on stderr before
        # any logging is set up; that block is the one thing not logged, so not JSON.
        lines = lines[next(i for i, line in enumerate(lines) if line.startswith("{")) :]
    return [json.loads(line) for line in lines]  # a plain-text line fails the test here


def _order_service(slow_after_id: str, delay_s: float):  # noqa: ANN202 - a handler
    """The backfill endpoint: after_id 0 -> 7, then 7 -> done; the first ask after `slow_after_id`
    hangs past the soft time limit (it stops waiting when the worker hangs up)."""
    stalled: list[bool] = []

    def answer(request: Received) -> Answer:
        after = request.query["after_id"][0]
        if after == slow_after_id and not stalled:
            stalled.append(True)
            request.wait_while_connected(delay_s)
        next_after = 7 if after == "0" else None
        return 200, {"entry": SIDE, "exit": SIDE, "next_after_id": next_after}

    return answer


def test_a_task_past_its_soft_limit_is_interrupted_retried_once_and_never_doubled(
    clean_db: Engine,
    add_trades: TradeFactory,
    database_url: str,
    broker: dict[str, str],
    tmp_path: Path,
) -> None:
    add_trades(2)
    request_id = f"test-{uuid.uuid4().hex[:12]}"
    env = {
        **broker, "DATABASE_URL": database_url, "API_KEY": TEST_API_KEY, "APP_ENV": "test",
        "LOG_JSON": "true", "QUALITY_CATCH_UP_ON_START": "false",
        "CELERY_BACKFILL_SOFT_TIME_LIMIT_SECONDS": str(SOFT_LIMIT_S),
        "CELERY_BACKFILL_TIME_LIMIT_SECONDS": str(SOFT_LIMIT_S + 3),
    }  # fmt: skip
    worker_log = tmp_path / "worker.log"
    with (
        http_sink(_order_service("7", delay_s=30)) as orders,
        celery_process(
            [
                "worker",
                "--pool=prefork",
                "--concurrency=2",
                "--loglevel=INFO",
                "--without-mingle",
                "--without-gossip",
                "--without-heartbeat",
                "-n",
                f"limits-{uuid.uuid4().hex[:6]}@%h",
            ],
            env | {"ORDER_SERVICE_URL": orders.url},
            worker_log,
        ) as worker,  # fmt: skip
        ServiceProcess(
            "quality_service.main:create_app", env=env, log_path=tmp_path / "api.log"
        ) as api,
    ):
        wait_for(lambda: worker.poll() is not None or "ready" in worker_log.read_text(),
                 timeout=90, what="worker ready")  # fmt: skip
        assert worker.poll() is None, worker_log.read_text()
        queued = httpx.post(
            f"{api.url}/quality/backfills",
            params={"trading_date": TRADING_DAY.isoformat()},
            headers={"Authorization": f"Bearer {TEST_API_KEY}", "X-Request-ID": request_id},
            timeout=30,
        )
        assert queued.status_code == 202, queued.text
        run = wait_for(lambda: _backfill_run(clean_db), timeout=120, what="backfill run")
        time.sleep(1)  # any duplicate would have asked the order service by now
        lines = _json_lines(worker_log)  # read while running: Celery prints its shutdown notice

    # batch 1 (after 0), batch 2 (after 7) interrupted at the soft limit, its retry (after 7)
    assert [r.query["after_id"][0] for r in orders.received] == ["0", "7", "7"]
    assert orders.max_in_flight == 1  # never two asks at once
    assert {r.headers.get("x-request-id") for r in orders.received} == {request_id}
    assert run.details["backfill"]["batches"] == 2 and run.total_trades == 2

    ours = [line for line in lines if line.get("request_id") == request_id]
    assert any("SoftTimeLimitExceeded" in line["message"] for line in ours), ours
    assert any("Retry in" in line["message"] for line in ours), ours
    assert {line["service"] for line in lines} == {"quality-worker"}
    assert not any(line["level"] == "CRITICAL" for line in lines)


def _backfill_run(engine: Engine) -> QualityRun | None:
    with Session(engine) as session:
        statement = select(QualityRun).where(QualityRun.trigger == "backfill")
        return session.exec(statement).first()


def test_a_second_beat_refuses_to_start(
    clean_db: Engine, database_url: str, broker: dict[str, str], tmp_path: Path
) -> None:
    env = {
        **broker, "DATABASE_URL": database_url, "API_KEY": TEST_API_KEY,
        "LOG_JSON": "true", "QUALITY_CATCH_UP_ON_START": "false",
    }  # fmt: skip
    first_log, second_log = tmp_path / "beat1.log", tmp_path / "beat2.log"
    beat = ["beat", "--loglevel=INFO"]
    with celery_process([*beat, "-s", str(tmp_path / "schedule1")], env, first_log) as first:
        wait_for(lambda: first.poll() is not None or "beat lock acquired" in first_log.read_text(),
                 timeout=90, what="first beat holding the lock")  # fmt: skip
        assert first.poll() is None, first_log.read_text()
        with celery_process([*beat, "-s", str(tmp_path / "schedule2")], env, second_log) as second:
            assert second.wait(timeout=90) == 3, second_log.read_text()
        assert first.poll() is None  # the first beat keeps beating
    refused = [line for line in _json_lines(second_log) if line["level"] == "ERROR"]
    assert refused and "refusing to start a second beat" in refused[0]["message"]
    assert {line["service"] for line in _json_lines(first_log)} == {"quality-beat"}
