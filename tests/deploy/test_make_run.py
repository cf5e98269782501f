"""`make run`'s script as a user starts it: every service comes up on the embedded default, the
market-data primary and fallback serve a NIFTY chain, a killed process is restarted while the
others keep serving (the fallback visibly at work meanwhile), and Ctrl-C stops everything."""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import TEST_API_KEY
from tests.support.orders_processes import listed_option, order_body
from tests.support.processes import REPO_ROOT, free_port, wait_healthy

pytestmark = pytest.mark.slow


def _an_order_now_fills(md_port: str, order_port: str) -> None:
    """An order without `as_of` is accepted: in the session live, outside it off-hours."""
    md = httpx.get(f"http://127.0.0.1:{md_port}/v1/underlyings", timeout=30).json()
    nifty = next(u for u in md["underlyings"] if u["name"] == "NIFTY")
    step = nifty["strike_step"]
    body = {
        "underlying": "NIFTY", "expiry": nifty["expiries"][1]["expiry"],
        "strike": round(nifty["spot"] / step) * step, "option_type": "CE", "side": "BUY",
        "lots": 1, "ml_score": 0.5, "model_version": "make-run", "model_hash": "abcdef12",
        "features_snapshot": {"x": 1},
    }  # fmt: skip
    answer = httpx.post(
        f"http://127.0.0.1:{order_port}/v1/orders",
        json=body,
        headers={"Authorization": f"Bearer {TEST_API_KEY}"},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["position"]["mode"] == "live"


def test_make_run_serves_a_nifty_chain_on_both_instances_and_stops_on_ctrl_c(
    tmp_path: Path,
) -> None:
    ports = {name: str(free_port()) for name in ("md", "fallback", "order", "quality")}
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_", "CELERY_", "MARKET_DATA_", "ORDER_", "QUALITY_"))
        and k != "ALLOW_OFF_HOURS_ORDERS"
    }
    env.update(
        OPTRADE_DATA_DIR=str(tmp_path / "data"),  # the embedded default, under a scratch folder
        API_KEY=TEST_API_KEY,
        APP_ENV="development",
        MARKET_DATA_PORT=ports["md"],
        MARKET_DATA_FALLBACK_PORT=ports["fallback"],
        ORDER_PORT=ports["order"],
        QUALITY_PORT=ports["quality"],
        QUALITY_CATCH_UP_ON_START="false",
    )
    out = tmp_path / "make-run.log"
    with out.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "scripts/run_stack.py"],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        for port in ports.values():
            wait_healthy(f"http://127.0.0.1:{port}", timeout=120, proc=proc)
        _the_readme_first_session_runs_as_written(tmp_path / "shell", ports)
        for name in ("md", "fallback"):
            chain = httpx.get(f"http://127.0.0.1:{ports[name]}/v1/chain/NIFTY", timeout=30)
            assert chain.status_code == 200, chain.text
            body = chain.json()
            assert body["underlying"] == "NIFTY" and len(body["strikes"]) > 20
            assert body["instance"] == ("primary" if name == "md" else "fallback")
        assert (tmp_path / "data" / "optrade.db").exists()  # SQLite under the data folder
        printed = out.read_text()
        for port in ports.values():
            assert f"http://127.0.0.1:{port}" in printed
        assert f"API key: {TEST_API_KEY}" in printed
        assert re.search(r"^order +\| ", printed, re.M), printed[-2000:]  # labelled output
        _kill_the_primary_and_watch_the_runner_restart_it(out, ports)
        assert "Off-hours orders ALLOWED (ALLOW_OFF_HOURS_ORDERS=true)" in printed
        _an_order_now_fills(ports["md"], ports["order"])  # whatever the hour or the weekday
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends
        try:
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, out.read_text()[-3000:]
    assert "stopped." in out.read_text()
    time.sleep(0.5)
    for port in ports.values():  # nothing left listening
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
    started = [int(pid) for pid in re.findall(r"started \(pid (\d+)\)", out.read_text())]
    assert len(started) == 8, started  # seven processes (the order engine too), the primary twice
    for pid in started:  # no process left behind, the worker and beat included
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def readme_first_session() -> str:
    """The shell block of README.md's "A first session"."""
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split("## A first session", 1)[1]
    return section.split("```bash\n", 1)[1].split("```", 1)[0]


def _the_readme_first_session_runs_as_written(home: Path, ports: dict[str, str]) -> None:
    """A new shell (no uv, no activated venv on PATH) in a checkout whose `.env` holds the key
    and the ports `make run` was given runs the README's commands, failing on the first error."""
    home.mkdir()
    (home / ".venv").symlink_to(REPO_ROOT / ".venv")
    (home / ".env").write_text(
        f"API_KEY={TEST_API_KEY}\nORDER_PORT={ports['order']}\n"
        f"MARKET_DATA_PORT={ports['md']}\nQUALITY_PORT={ports['quality']}\n"
    )
    session = subprocess.run(
        ["/bin/bash", "-euo", "pipefail", "-c", readme_first_session()],
        cwd=home, env={"PATH": "/usr/bin:/bin", "HOME": str(home)},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert session.returncode == 0, session.stdout[-3000:] + session.stderr[-3000:]
    assert session.stdout.startswith("no positions yet\n"), session.stdout[:500]
    assert "\t1/2 lots\t" in session.stdout  # the position after closing 1 of its 2 lots
    assert "=== DATA QUALITY CHECK ===" in session.stdout
    assert (home / "trades.parquet").stat().st_size > 0


def _pids(log: Path, name: str) -> list[int]:
    found = re.findall(rf"{name} started \(pid (\d+)\)", log.read_text())
    return [int(pid) for pid in found]


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not in {timeout} s: {what}"
        time.sleep(0.2)


def _kill_the_primary_and_watch_the_runner_restart_it(out: Path, ports: dict[str, str]) -> None:
    """Primary killed: the next order says `fallback`; restarted: the one after says `primary`."""
    option = listed_option(f"http://127.0.0.1:{ports['md']}")
    orders = httpx.Client(
        base_url=f"http://127.0.0.1:{ports['order']}",
        headers={"Authorization": f"Bearer {TEST_API_KEY}"},
        timeout=30,
    )
    with orders:
        first = orders.post("/v1/orders", json=order_body(option))
        assert first.status_code == 201 and first.json()["position"]["entry_source"] == "primary", (
            first.text
        )
        (primary_pid,) = _pids(out, "market-data primary")
        os.kill(primary_pid, signal.SIGKILL)
        served = orders.post("/v1/orders", json=order_body(option))
        assert served.status_code == 201, served.text
        assert served.json()["position"]["entry_source"] == "fallback"
        assert served.json()["position"]["entry_error"].startswith("skipped primary")

        _wait_for(lambda: len(_pids(out, "market-data primary")) == 2, 30, "primary restarted")
        assert f"market-data primary (pid {primary_pid}) exited with code -9" in out.read_text()
        wait_healthy(f"http://127.0.0.1:{ports['md']}", timeout=120)
        again = orders.post("/v1/orders", json=order_body(option))
        assert again.status_code == 201 and again.json()["position"]["entry_source"] == "primary", (
            again.text
        )
    for port in ports.values():  # the others kept serving throughout
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200


def _run_stack() -> object:
    spec = importlib.util.spec_from_file_location("run_stack", REPO_ROOT / "scripts/run_stack.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["run_stack"] = module  # its dataclasses look their module up while defined
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules["run_stack"]
    return module


def test_the_environment_wins_over_the_runners_defaults() -> None:
    """The order service asks the market-data deployment the user names (by the deprecated
    MARKET_DATA_*_URL names here, still honoured), not the runner's own."""
    run_stack: Any = _run_stack()
    env = {
        "MARKET_DATA_PRIMARY_URL": "http://md-a.example:9001",
        "MARKET_DATA_FALLBACK_URL": "http://md-b.example:9002",
        "ORDER_SERVICE_URL": "http://orders.example:9000",
    }
    plan = {name: extra for name, _, extra, _ in run_stack._plan(dict(env))}
    assert plan["order"]["MARKET_DATA_CLIENT_PRIMARY_URL"] == "http://md-a.example:9001"
    assert plan["order"]["MARKET_DATA_CLIENT_FALLBACK_URL"] == "http://md-b.example:9002"
    assert plan["quality worker"]["ORDER_SERVICE_URL"] == "http://orders.example:9000"
    defaults = {name: extra for name, _, extra, _ in run_stack._plan({})}
    assert defaults["order"]["MARKET_DATA_CLIENT_PRIMARY_URL"] == "http://127.0.0.1:8001"


def test_each_market_data_instance_picks_its_own_provider() -> None:
    """`MARKET_DATA_PROVIDER` is the primary's, `MARKET_DATA_FALLBACK_PROVIDER` the fallback's."""
    run_stack: Any = _run_stack()
    env = {"MARKET_DATA_PROVIDER": "openalgo", "MARKET_DATA_FALLBACK_PROVIDER": "upstox"}
    plan = {name: extra for name, _, extra, _ in run_stack._plan(dict(env))}
    assert plan["market-data fallback"] == {"MARKET_DATA_INSTANCE": "fallback",
                                            "MARKET_DATA_PROVIDER": "upstox"}  # fmt: skip
    assert "MARKET_DATA_PROVIDER" not in plan["market-data primary"]  # inherits the environment
    same = {name: extra for name, _, extra, _ in run_stack._plan({"MARKET_DATA_PROVIDER": "x"})}
    assert same["market-data fallback"] == {"MARKET_DATA_INSTANCE": "fallback"}


def test_workers_settings_start_that_many_uvicorn_workers() -> None:
    """`ORDER_WORKERS` / `MARKET_DATA_WORKERS` become `--workers N`; one worker adds no flag."""
    run_stack: Any = _run_stack()
    env = {"ORDER_WORKERS": "3", "MARKET_DATA_WORKERS": "2"}
    commands = {name: cmd for name, cmd, _, _ in run_stack._plan(dict(env))}
    assert commands["order"][-2:] == ["--workers", "3"]
    assert commands["market-data primary"][-2:] == ["--workers", "2"]
    assert commands["market-data fallback"][-2:] == ["--workers", "2"]
    assert "--workers" not in commands["quality API"]
    defaults = {name: cmd for name, cmd, _, _ in run_stack._plan({})}
    assert "--workers" not in defaults["order"]
    for wrong in ("0", "two", "-1", "65"):
        with pytest.raises(SystemExit, match="ORDER_WORKERS"):
            run_stack._plan({"ORDER_WORKERS": wrong})


def test_two_market_data_workers_serve_one_port() -> None:
    """The command `make run` builds for two workers starts two serving processes on one port."""
    run_stack: Any = _run_stack()
    port = free_port()
    env = {"MARKET_DATA_WORKERS": "2", "MARKET_DATA_PORT": str(port)}
    command = {name: cmd for name, cmd, _, _ in run_stack._plan(env)}["market-data primary"]
    proc = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    try:
        wait_healthy(f"http://127.0.0.1:{port}", timeout=120, proc=proc)  # type: ignore[arg-type]
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        # The workers are spawned interpreters (beside multiprocessing's resource tracker).
        workers = [c for c in children if "spawn_main" in Path(f"/proc/{c}/cmdline").read_text()]
        assert len(workers) == 2, f"expected two worker processes, found {children}"
        for _ in range(4):
            answer = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
            assert answer.status_code == 200
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
