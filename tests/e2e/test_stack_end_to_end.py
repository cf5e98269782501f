"""The whole stack as real processes: market-data primary and fallback, the order service, the
quality API, a Celery worker and one beat, on the test database and broker.

One scenario (module fixture) drives it over HTTP: orders with model metadata, full and partial
closes, the primary market-data process SIGKILLed mid-run and trading carrying on through the
fallback, a manual quality check over HTTP and one through the real worker. The tests then read
what the stack stored and exposed: trades, quality runs and status, metrics, and logs.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import TEST_API_KEY
from tests.support.processes import REPO_ROOT, ServiceProcess

pytestmark = pytest.mark.slow

AUTH = {"Authorization": f"Bearer {TEST_API_KEY}"}
MODEL_HASH = "e2e0c0ffee" * 4
GREEKS = ("delta", "gamma", "theta", "vega", "iv")
CONTEXT = ("spot", "vix", "pcr")
CHAIN = ("oi", "volume", "bid", "ask")
# Redis databases of this module (CI's TEST_REDIS_URL names /0); the queue name is unique too.
REDIS_BROKER_DB, REDIS_RESULT_DB = 11, 12
TASK_TIMEOUT_S = 45.0
START_TIMEOUT_S = 90.0  # per service; generous, for a CI machine busy with other suites


@dataclass
class Stack:
    tmp: Path
    md_primary: ServiceProcess
    md_fallback: ServiceProcess
    orders: ServiceProcess
    quality: ServiceProcess
    celery_env: dict[str, str]
    background: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    log_files: list[Any] = field(default_factory=list)

    def log(self, name: str) -> Path:
        return self.tmp / f"{name}.log"

    def stop(self) -> None:
        """SIGTERM, then SIGKILL, every process; never raises."""
        for service in (self.orders, self.quality, self.md_fallback, self.md_primary):
            with contextlib.suppress(Exception):  # keep stopping the others
                service.stop(timeout=5.0)
        for proc in self.background.values():
            _stop_group(proc)
        for handle in self.log_files:
            handle.close()


def _stop_group(proc: subprocess.Popen[bytes], timeout: float = 8.0) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=timeout)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        proc.wait(timeout=timeout)


def _tail(path: Path | None, chars: int = 4000) -> str:
    if path is None or not path.exists():
        return "(no log)"
    return f"--- {path.name} ---\n{path.read_text(errors='replace')[-chars:]}"


def _broker_env(tmp: Path, redis_url: str | None) -> dict[str, str]:
    queue = f"e2e-{uuid.uuid4().hex[:8]}"
    if redis_url:
        base = make_url(redis_url)
        broker = base.set(database=str(REDIS_BROKER_DB)).render_as_string(hide_password=False)
        backend = base.set(database=str(REDIS_RESULT_DB)).render_as_string(hide_password=False)
    else:
        broker = f"sqla+sqlite:///{tmp / 'celery-broker.db'}"
        backend = f"db+sqlite:///{tmp / 'celery-results.db'}"
    return {"CELERY_BROKER_URL": broker, "CELERY_RESULT_BACKEND": backend, "CELERY_QUEUE": queue}


def _celery(stack: Stack, name: str, *args: str) -> None:
    handle = open(stack.log(name), "ab")  # noqa: SIM115 - closed by Stack.stop
    stack.log_files.append(handle)
    cmd = [sys.executable, "-m", "celery", "-A", "quality_service.celery_app", *args]
    stack.background[name] = subprocess.Popen(
        cmd,
        env={**os.environ, **stack.celery_env},
        cwd=REPO_ROOT,
        stdout=handle,
        stderr=handle,
        start_new_session=True,
    )


@pytest.fixture(scope="module")
def stack(
    database_url: str, redis_url: str | None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("e2e")
    common = {
        "APP_ENV": "test",
        "API_KEY": TEST_API_KEY,
        "LOG_LEVEL": "INFO",
        "LOG_JSON": "true",
        "DATABASE_URL": database_url,
    }
    market = {**common, "MARKET_DATA_PROVIDER": "simulated", "MARKET_DATA_FAULT": "none"}
    md_app = "market_data_service.main:create_app"
    md_primary = ServiceProcess(
        md_app,
        env={**market, "MARKET_DATA_INSTANCE": "primary"},
        log_path=tmp / "market-data-primary.log",
    )
    md_fallback = ServiceProcess(
        md_app,
        env={**market, "MARKET_DATA_INSTANCE": "fallback"},
        log_path=tmp / "market-data-fallback.log",
    )
    orders = ServiceProcess(
        "order_service.main:create_app",
        env={
            **common,
            "MARKET_DATA_PRIMARY_URL": md_primary.url,
            "MARKET_DATA_FALLBACK_URL": md_fallback.url,
            # The scenario trades at "now" on the simulated market, whatever the hour it runs.
            "ALLOW_OFF_HOURS_ORDERS": "true",
        },
        log_path=tmp / "order.log",
    )
    # The worker's backfill (queued by each stored daily check) asks this stack's order service.
    celery_env = {**common, **_broker_env(tmp, redis_url), "ORDER_SERVICE_URL": orders.url}
    quality = ServiceProcess(
        "quality_service.main:create_app", env=celery_env, log_path=tmp / "quality.log"
    )
    stack = Stack(tmp, md_primary, md_fallback, orders, quality, celery_env)
    try:
        # The worker and beat first: they take longest to come up, and each sends a catch-up.
        _celery(stack, "worker", "worker", "--pool=solo", "--concurrency=1", "--loglevel=INFO")
        _celery(stack, "beat", "beat", "--loglevel=INFO", f"--schedule={tmp / 'beat-schedule'}")
        with ThreadPoolExecutor(4) as pool:
            services = (md_primary, md_fallback, orders, quality)
            for service, future in [(s, pool.submit(s.start, START_TIMEOUT_S)) for s in services]:
                try:
                    future.result()
                except Exception as exc:
                    raise RuntimeError(f"{exc}\n{_tail(service.log_path)}") from exc
        yield stack
    finally:
        stack.stop()


# --- the scenario --------------------------------------------------------------------------------


@dataclass
class Scenario:
    option: dict[str, Any]
    request_id: str  # sent on every order/close after the primary died
    expected_sources: dict[int, tuple[str, str]]  # trade id -> (entry source, exit source)
    model_versions: dict[int, str]  # trade id -> model version
    check_text: str
    check_status: int
    worker_run_id: int
    scheduled_runs_at_start: list[dict[str, Any]]
    primary_exit_code: int | None


def _option(md_url: str) -> dict[str, Any]:
    """An at-the-money NIFTY option of the second listed expiry (not expiring today)."""
    answer = httpx.get(f"{md_url}/v1/underlyings", timeout=10).raise_for_status().json()
    nifty = next(u for u in answer["underlyings"] if u["name"] == "NIFTY")
    step = nifty["strike_step"]
    return {
        "underlying": "NIFTY",
        "expiry": nifty["expiries"][1]["expiry"],
        "strike": round(nifty["spot"] / step) * step,
        "step": step,
    }


class Client:
    """The HTTP calls of the scenario, each asserting its status."""

    def __init__(self, stack: Stack, option: dict[str, Any]) -> None:
        self.http = httpx.Client(timeout=15.0)
        self.stack = stack
        self.option = option
        self.count = 0
        self.sent: dict[int, tuple[dict[str, Any], dict[str, str]]] = {}  # position -> request

    def open(self, model_version: str, rid: str, **overrides: Any) -> dict[str, Any]:
        self.count += 1
        body = {
            "underlying": self.option["underlying"],
            "expiry": self.option["expiry"],
            "strike": self.option["strike"] + self.option["step"] * (self.count % 3 - 1),
            "option_type": "CE" if self.count % 2 else "PE",
            "side": "BUY" if self.count % 3 else "SELL",
            "quantity": 2,
            "ml_score": round(0.5 + self.count / 100, 2),
            "model_version": model_version,
            "model_hash": MODEL_HASH,
            "features_snapshot": {"rsi": 40.0 + self.count, "regime": "trend", "n": self.count},
            "client_order_id": f"e2e-{uuid.uuid4().hex[:12]}",
            **overrides,
        }
        headers = {**AUTH, "X-Request-ID": rid, "Idempotency-Key": f"open-{uuid.uuid4().hex}"}
        response = self.http.post(f"{self.stack.orders.url}/v1/orders", json=body, headers=headers)
        assert response.status_code == 201, response.text
        assert response.headers["X-Request-ID"] == rid
        position = response.json()["position"]
        assert position["model_version"] == model_version
        assert "Idempotent-Replayed" not in response.headers
        self.sent[position["id"]] = (body, headers)
        return dict(position)

    def retry_open(self, position_id: int, rid: str) -> httpx.Response:
        """The same order with the same Idempotency-Key again, as a client's retry."""
        body, headers = self.sent[position_id]
        headers = {**headers, "X-Request-ID": rid}
        return self.http.post(f"{self.stack.orders.url}/v1/orders", json=body, headers=headers)

    def close(self, position_id: int, rid: str, **body: Any) -> dict[str, Any]:
        headers = {**AUTH, "X-Request-ID": rid, "Idempotency-Key": f"close-{uuid.uuid4().hex}"}
        response = self.http.post(
            f"{self.stack.orders.url}/v1/positions/{position_id}/close",
            json={"reason": "e2e", **body},
            headers=headers,
        )
        assert response.status_code == 200, response.text
        return dict(response.json()["trade"])


def _wait_for(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _runs(stack: Stack) -> list[dict[str, Any]]:
    answer = httpx.get(f"{stack.quality.url}/quality/runs", params={"limit": 200}, timeout=10)
    return list(answer.raise_for_status().json()["items"])


PRODUCER = """
import sys
from quality_service.celery_app import RUN_MANUAL_TASK, app
result = app.send_task(RUN_MANUAL_TASK, kwargs={"lookback_days": int(sys.argv[1])})
print(result.get(timeout=float(sys.argv[2])))
"""


def _send_manual_check(stack: Stack, lookback_days: int) -> int:
    """Send the manual-check task to the real worker, as any producer would, and wait for its
    result. In a child process with the stack's environment: the Celery app reads its broker from
    there, and the result backend's SQLAlchemy warnings stay out of this pytest process."""
    done = subprocess.run(
        [sys.executable, "-c", PRODUCER, str(lookback_days), str(TASK_TIMEOUT_S)],
        env={**os.environ, **stack.celery_env},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=TASK_TIMEOUT_S + 30,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return int(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def scenario(stack: Stack) -> Scenario:
    # Worker and beat each send a catch-up on start; the database guard makes them one run.
    scheduled = _wait_for(
        lambda: [r for r in _runs(stack) if r["trigger"] == "scheduled"],
        TASK_TIMEOUT_S,
        "the start-up catch-up run of the worker",
    )
    option = _option(stack.md_fallback.url)
    client = Client(stack, option)
    sources: dict[int, tuple[str, str]] = {}
    versions: dict[int, str] = {}

    def record(trade: dict[str, Any], entry: str, exit_: str) -> None:
        sources[trade["id"]] = (entry, exit_)
        versions[trade["id"]] = trade["model_version"]

    # Phase 1: both market-data instances up.
    rid1 = f"e2e-primary-{uuid.uuid4().hex[:8]}"
    a1 = client.open("e2e-v1", rid1)
    a2 = client.open("e2e-v1", rid1)
    a3 = client.open("e2e-v2", rid1, quantity=3)
    a4 = client.open("e2e-v2", rid1)
    assert {p["entry_source"] for p in (a1, a2, a3, a4)} == {"primary"}
    record(client.close(a1["id"], rid1), "primary", "primary")
    record(client.close(a2["id"], rid1), "primary", "primary")
    partial = client.close(a3["id"], rid1, quantity=1)
    assert partial["lots"] == 1
    record(partial, "primary", "primary")

    # Phase 2: the primary dies as a crash would; trading carries on through the fallback.
    primary_proc = stack.md_primary.proc
    assert primary_proc is not None
    stack.md_primary.kill()
    primary_exit = primary_proc.returncode
    rid2 = f"e2e-fallback-{uuid.uuid4().hex[:8]}"
    # A retried order replays its position. It asks market data once (the quote is discarded):
    # the replay is found by the insert's conflict, not by a SELECT before every order.
    retried = client.retry_open(a4["id"], rid2)
    assert retried.status_code == 201, retried.text
    assert retried.headers.get("Idempotent-Replayed") == "true"
    replayed = retried.json()["position"]
    assert replayed["id"] == a4["id"] and replayed["quantity_open"] == 2
    b1 = client.open("e2e-v3", rid2)
    b2 = client.open("e2e-v3", rid2)
    assert {p["entry_source"] for p in (b1, b2)} == {"fallback"}
    rest = client.close(a3["id"], rid2)
    assert rest["lots"] == 2
    record(rest, "primary", "fallback")
    record(client.close(a4["id"], rid2), "primary", "fallback")
    record(client.close(b1["id"], rid2), "fallback", "fallback")
    record(client.close(b2["id"], rid2), "fallback", "fallback")

    # A manual check over HTTP (the curl of the runbook) and one through the real worker.
    check = httpx.post(
        f"{stack.quality.url}/quality/checks",
        params={"lookback_days": 7, "format": "text"},
        headers=AUTH,
        timeout=30,
    )
    worker_run_id = _send_manual_check(stack, lookback_days=7)
    client.http.close()
    return Scenario(
        option=option,
        request_id=rid2,
        expected_sources=sources,
        model_versions=versions,
        check_text=check.text,
        check_status=check.status_code,
        worker_run_id=worker_run_id,
        scheduled_runs_at_start=scheduled,
        primary_exit_code=primary_exit,
    )


# --- what the stack stored and exposed -----------------------------------------------------------


def test_primary_was_killed_and_the_rest_of_the_stack_kept_running(
    stack: Stack, scenario: Scenario
) -> None:
    assert scenario.primary_exit_code == -signal.SIGKILL
    for service in (stack.md_fallback, stack.orders, stack.quality):
        assert httpx.get(f"{service.url}/healthz", timeout=5).status_code == 200
        ready = httpx.get(f"{service.url}/readyz", timeout=10)  # database, broker, provider
        assert ready.status_code == 200, ready.text
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{stack.md_primary.url}/healthz", timeout=2)
    for name in ("order", "quality", "market-data-fallback"):
        errors = [line for line in _json_lines(stack.log(name)) if line.get("level") == "ERROR"]
        assert not errors, (name, errors)
    for name, proc in stack.background.items():
        assert proc.poll() is None, f"celery {name} exited; see {stack.log(name)}"


def test_every_trade_is_a_complete_record_with_the_source_that_served_it(
    stack: Stack, scenario: Scenario
) -> None:
    answer = httpx.get(f"{stack.orders.url}/v1/trades", params={"limit": 500}, timeout=10)
    page = answer.raise_for_status().json()
    trades = {t["id"]: t for t in page["items"]}
    assert page["total"] == len(scenario.expected_sources) == 7
    assert set(trades) == set(scenario.expected_sources)
    for trade_id, (entry_source, exit_source) in scenario.expected_sources.items():
        trade = trades[trade_id]
        assert (trade["entry_source"], trade["exit_source"]) == (entry_source, exit_source), trade
        assert trade["model_version"] == scenario.model_versions[trade_id]
        assert trade["model_hash"] == MODEL_HASH
        assert 0 <= trade["ml_score"] <= 1 and trade["features_snapshot"]["regime"] == "trend"
        for prefix in ("entry_", "exit_"):
            for name in (*GREEKS, *CONTEXT, *CHAIN):
                assert trade[f"{prefix}{name}"] is not None, (trade_id, prefix + name)
        # A fallback snapshot says why the primary was not used.
        assert (
            trade["entry_error"] is None
            if entry_source == "primary"
            else "primary" in trade["entry_error"]
        ), trade
        assert (
            trade["exit_error"] is None
            if exit_source == "primary"
            else "primary" in trade["exit_error"]
        ), trade
        assert trade["close_reason"] == "e2e"
    # The partial close and its remainder are two trades of one position.
    lots_by_position: dict[int, list[int]] = {}
    for trade in trades.values():
        lots_by_position.setdefault(trade["position_id"], []).append(trade["lots"])
    assert sorted(lots_by_position.values(), key=len)[-1] in ([1, 2], [2, 1])
    fallback_only = [t for t in trades.values() if t["exit_source"] == "fallback"]
    assert len(fallback_only) == 4
    # Six positions (the retried order opened none), every one closed; the listings filter.
    positions = httpx.get(f"{stack.orders.url}/v1/positions", params={"limit": 500}, timeout=10)
    assert positions.raise_for_status().json()["total"] == 6
    still_open = httpx.get(f"{stack.orders.url}/v1/positions", params={"status": "open"})
    assert still_open.raise_for_status().json()["total"] == 0
    v3 = httpx.get(f"{stack.orders.url}/v1/trades", params={"model_version": "e2e-v3"})
    assert {t["entry_source"] for t in v3.raise_for_status().json()["items"]} == {"fallback"}
    assert v3.json()["total"] == 2


def test_the_manual_check_over_http_reports_every_trade_passing(scenario: Scenario) -> None:
    text = scenario.check_text
    assert scenario.check_status == 201, text
    lines = text.splitlines()
    assert lines[0] == "=== DATA QUALITY CHECK ==="
    assert lines[1] == "Checking 7 trades from the last 7 days", text
    for number, label in enumerate(
        ("Entry Greeks", "Exit Greeks", "ML Metadata", "Market Context", "Chain Data"), start=1
    ):
        assert f"{number}. {label} Coverage: 100.0%" in lines, text
    assert "   Delta: 7/7  ✅" in lines, text
    assert "   Features snapshot: 7/7  ✅" in lines, text
    assert "(manual)" in text
    assert lines[-1] == "All data quality checks PASSED! ✅", text


def test_the_worker_stored_its_run_and_the_status_shows_it(
    stack: Stack, scenario: Scenario
) -> None:
    run = httpx.get(f"{stack.quality.url}/quality/runs/{scenario.worker_run_id}", timeout=10)
    run.raise_for_status()
    stored = run.json()
    assert stored["trigger"] == "manual" and stored["status"] == "pass", stored
    assert stored["total_trades"] == 7
    assert {c["name"]: c["coverage"] for c in stored["checks"]} == {
        "entry_greeks": 100.0,
        "exit_greeks": 100.0,
        "ml_metadata": 100.0,
        "market_context": 100.0,
        "chain_data": 100.0,
        "open_past_expiry": None,  # counts positions (none stranded), not trade coverage
        "feature_drift": None,  # compares feature distributions, not trade coverage
    }
    runs = _runs(stack)
    manual = [r for r in runs if r["trigger"] == "manual"]
    assert len(manual) == 2 and all(r["total_trades"] == 7 for r in manual)
    # Two catch-ups (worker and beat), one scheduled run: the database guard held.
    scheduled = [r for r in runs if r["trigger"] == "scheduled"]
    assert [r["id"] for r in scheduled] == [r["id"] for r in scenario.scheduled_runs_at_start]
    assert len(scheduled) == 1

    status = httpx.get(f"{stack.quality.url}/quality/status", timeout=10).raise_for_status().json()
    assert status["status"] == "pass", status
    assert status["latest_run"]["id"] == scenario.worker_run_id
    assert status["next_scheduled_run"].endswith("+05:30")
    assert scenario.worker_run_id in [r["id"] for r in status["recent_runs"]]
    report = httpx.get(
        f"{stack.quality.url}/quality/runs/{scenario.worker_run_id}",
        params={"format": "text"},
        timeout=10,
    )
    assert report.text.splitlines()[-1] == "All data quality checks PASSED! ✅", report.text
    worker_log = stack.log("worker").read_text()
    assert "quality.run_manual" in worker_log and "succeeded" in worker_log, worker_log[-3000:]
    assert "quality.catch_up" in worker_log, worker_log[-3000:]
    assert "beat: Starting" in stack.log("beat").read_text()


def _samples(url: str, name: str) -> list[tuple[dict[str, str], float]]:
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{url}/metrics", timeout=10).raise_for_status().text
    found = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found.append((dict(sample.labels), sample.value))
    return found


def _value(samples: list[tuple[dict[str, str], float]], **labels: str) -> float:
    return sum(v for got, v in samples if all(got.get(k) == w for k, w in labels.items()))


def test_metrics_show_captures_by_source_and_requests_served(
    stack: Stack, scenario: Scenario
) -> None:
    snapshots = _samples(stack.orders.url, "order_snapshots_total")
    assert _value(snapshots, stage="entry", source="primary") == 4
    assert _value(snapshots, stage="entry", source="fallback") == 2
    assert _value(snapshots, stage="exit", source="primary") == 3
    assert _value(snapshots, stage="exit", source="fallback") == 4
    captures = _samples(stack.orders.url, "market_data_captures_total")
    assert _value(captures, source="primary") == 7
    # The six fallback snapshots, and the retried open's quote (captured, then discarded when
    # its insert met the first open's key).
    assert _value(captures, source="fallback") == 7
    calls = _samples(stack.orders.url, "market_data_provider_calls_total")
    assert _value(calls, provider="primary", outcome="failed") >= 1
    # The dead primary's breaker opened, so later captures did not even try it.
    assert _value(calls, provider="primary", outcome="circuit_open") >= 1
    breakers = _samples(stack.orders.url, "market_data_breaker_state")
    assert _value(breakers, provider="primary", state="open") == 1
    assert _value(calls, provider="fallback", outcome="ok") == 7  # 6 snapshots + the retry

    served = _samples(stack.md_fallback.url, "http_requests_total")
    assert _value(served, service="market-data", route="/v1/quote/{underlying}", status="200") == 7
    checks = _samples(stack.quality.url, "http_requests_total")
    assert _value(checks, service="quality", route="/quality/checks", status="201") == 1
    orders = _samples(stack.orders.url, "http_requests_total")
    assert _value(orders, service="order", route="/v1/orders", status="201") == 7  # one replay


def _json_lines(path: Path) -> list[dict[str, Any]]:
    lines = []
    for raw in path.read_text().splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        if isinstance(line, dict):
            lines.append(line)
    return lines


def _lines_with(path: Path, request_id: str) -> list[dict[str, Any]]:
    return [line for line in _json_lines(path) if line.get("request_id") == request_id]


def test_the_request_id_is_followed_from_the_order_service_into_the_fallback_logs(
    stack: Stack, scenario: Scenario
) -> None:
    rid = scenario.request_id
    order_lines = _lines_with(stack.log("order"), rid)
    assert order_lines, f"no order-service log line carries {rid}; {_tail(stack.log('order'))}"
    assert all(line["service"] == "order" for line in order_lines)
    messages = [line["message"] for line in order_lines]
    assert any("served by fallback" in m for m in messages), messages
    # Two opens, the retried open, four closes: each sent with the id, each logged under it.
    assert sum(m.startswith("POST /v1/orders 201") for m in messages) == 3, messages
    assert sum(m.startswith("POST /v1/positions/") for m in messages) == 4, messages

    # The order service passes the id on: the fallback's lines of the quotes it served carry it.
    md_lines = _lines_with(stack.log("market-data-fallback"), rid)
    assert md_lines, f"no market-data log line carries {rid}"
    assert all(line["service"] == "market-data" for line in md_lines)
    quotes = [line for line in md_lines if line["message"].startswith("GET /v1/quote/NIFTY 200")]
    # Two opens and four closes, and the retried open's quote (discarded: it replays).
    assert len(quotes) == 7, [line["message"] for line in md_lines]
