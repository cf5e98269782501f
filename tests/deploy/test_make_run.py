"""`make run`'s script as a user starts it: every service comes up on the embedded default, the
market-data primary and fallback serve a NIFTY chain, and Ctrl-C stops everything."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.processes import REPO_ROOT, free_port, wait_healthy

pytestmark = pytest.mark.slow


def test_make_run_serves_a_nifty_chain_on_both_instances_and_stops_on_ctrl_c(
    tmp_path: Path,
) -> None:
    ports = {name: str(free_port()) for name in ("md", "fallback", "order", "quality")}
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_", "CELERY_", "MARKET_DATA_", "ORDER_", "QUALITY_"))
    }
    env.update(
        OPTRADE_DATA_DIR=str(tmp_path / "data"),  # the embedded default, under a scratch folder
        API_KEY="make-run-test-key-0123456789",
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
        assert "API key: make-run-test-key-0123456789" in printed
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
