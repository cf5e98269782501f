"""Real processes for the order-service tests: market-data instances and the order service."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import TEST_API_KEY
from tests.support.processes import REPO_ROOT, ServiceProcess

MARKET_DATA_APP = "market_data_service.main:create_app"
ORDER_APP = "order_service.main:create_app"
AUTH = {"Authorization": f"Bearer {TEST_API_KEY}"}
# Monday 01-Dec-2025 10:00 IST: a regular session the simulated market can replay at any time.
SESSION_AT = datetime(2025, 12, 1, 4, 30, tzinfo=UTC)


def market_data(
    instance: str = "primary", *, port: int | None = None, **env: str
) -> ServiceProcess:
    """A market-data process, not yet started (simulated provider unless `env` says otherwise)."""
    settings = {"MARKET_DATA_INSTANCE": instance, "MARKET_DATA_FAULT": "none", "APP_ENV": "test"}
    return ServiceProcess(MARKET_DATA_APP, env={**settings, **env}, port=port)


def order_service(
    database_url: str,
    primary_url: str,
    fallback_url: str,
    *,
    log_path: Path | None = None,
    **env: str,
) -> ServiceProcess:
    """An order-service process on the test database, asking the given market-data URLs."""
    settings = {
        "DATABASE_URL": database_url,
        "API_KEY": TEST_API_KEY,
        "APP_ENV": "test",
        "LOG_LEVEL": "INFO",
        "MARKET_DATA_CLIENT_PRIMARY_URL": primary_url,
        "MARKET_DATA_CLIENT_FALLBACK_URL": fallback_url,
        **env,
    }
    return started(ServiceProcess(ORDER_APP, env=settings, log_path=log_path))


def started(process: ServiceProcess, timeout: float = 90.0) -> ServiceProcess:
    """Start `process`; if it never becomes healthy, stop it (closing its log file) and raise."""
    try:
        return process.start(timeout=timeout)
    except BaseException:
        process.stop()
        raise


def listed_option(market_data_url: str, at: datetime = SESSION_AT) -> dict[str, Any]:
    """An at-the-money NIFTY option of the second listed expiry at `at` (not expiring that day)."""
    answer = httpx.get(f"{market_data_url}/v1/underlyings", params={"as_of": at.isoformat()})
    nifty = next(u for u in answer.raise_for_status().json()["underlyings"] if u["name"] == "NIFTY")
    step = nifty["strike_step"]
    return {
        "underlying": "NIFTY",
        "expiry": nifty["expiries"][1]["expiry"],
        "strike": round(nifty["spot"] / step) * step,
        "lot_size": nifty["expiries"][1]["lot_size"],
    }


def order_body(option: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    body = {
        "underlying": option["underlying"],
        "expiry": option["expiry"],
        "strike": option["strike"],
        "option_type": "CE",
        "side": "BUY",
        "quantity": 1,
        "ml_score": 0.73,
        "model_version": "proc-v1",
        "model_hash": "0123456789abcdef" * 4,
        "features_snapshot": {"rsi": 55.0, "oi_change": -1200},
        "as_of": SESSION_AT.isoformat(),
    }
    body.update(overrides)
    return body


def metric(service_url: str, name: str, **labels: str) -> float | None:
    """One sample of a service's /metrics, or None."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in httpx.get(f"{service_url}/metrics").text.splitlines():
        if line.startswith(f"{name}{{{wanted}}} ") or (not labels and line.startswith(name + " ")):
            return float(line.rsplit(" ", 1)[1])
    return None


def breaker(service_url: str, provider: str) -> str | None:
    """The state `market_data_breaker_state` marks 1 for `provider` (None if none is)."""
    for state in ("closed", "half-open", "open"):
        if metric(service_url, "market_data_breaker_state", provider=provider, state=state) == 1:
            return state
    return None


def warm_up(market_data_url: str, option: dict[str, Any], at: datetime = SESSION_AT) -> None:
    """Ask for one quote, so a process's first (cold, slow) answer does not meet a tight timeout."""
    params = {"expiry": option["expiry"], "strike": option["strike"], "option_type": "CE"}
    quote = httpx.get(
        f"{market_data_url}/v1/quote/{option['underlying']}",
        params={**params, "as_of": at.isoformat()},
        timeout=30,
    )
    quote.raise_for_status()


class EngineProcess:
    """The order engine (`python -m order_service.engine`) as a real process, logging to a file."""

    def __init__(self, database_url: str, primary_url: str, log_path: Path, **env: str) -> None:
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "API_KEY": TEST_API_KEY,
            "APP_ENV": "test",
            "LOG_LEVEL": "INFO",
            "MARKET_DATA_CLIENT_PRIMARY_URL": primary_url,
            "MARKET_DATA_CLIENT_FALLBACK_URL": "",
            "ORDER_ENGINE_POLL_INTERVAL": "0.2",
            **env,
        }
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90.0) -> EngineProcess:
        """Start the engine and wait until it logs that it started (its signal handlers are
        installed then: a SIGTERM before would kill it uncleanly on a slow machine)."""
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "order_service.engine"],
                env=self.env, cwd=REPO_ROOT, stdout=log, stderr=log, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while "order engine started" not in self.log():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the order engine did not start: {self.log()[-2000:]}")
            time.sleep(0.1)
        return self

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        code, self.proc = self.proc.returncode, None
        return code

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")
