"""Start the fake brokers and market-data instances on them as real processes (tests, bench)."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.conftest import INDIA_VIX_FILE, NSE_SNAPSHOT_DIR
from tests.support.fake_brokers.nse_source import shift_for_today
from tests.support.processes import ServiceProcess

SNAPSHOT = NSE_SNAPSHOT_DIR / "NIFTY_2025-12-02_09-34-45_IST.json"
VIX_FILE = INDIA_VIX_FILE
OPENALGO_KEY = "fake-openalgo-key-3b1f"
UPSTOX_TOKEN = "fake-upstox-token-9c2e"
MARKET_DATA = "market_data_service.main:create_app"


def fake_broker(kind: str, snapshot: Path = SNAPSHOT, *, log_dir: Path | None = None,
                port: int | None = None) -> ServiceProcess:  # fmt: skip
    """A fake `openalgo` or `upstox` server (not started) serving `snapshot` moved to today."""
    env = {"FAKE_NSE_SNAPSHOT": str(snapshot), "FAKE_SHIFT_DAYS": str(shift_for_today(snapshot)),
           "FAKE_VIX_FILE": str(VIX_FILE), "FAKE_API_KEY": OPENALGO_KEY,
           "FAKE_ACCESS_TOKEN": UPSTOX_TOKEN}  # fmt: skip
    log_path = log_dir / f"fake-{kind}.log" if log_dir else None
    return ServiceProcess(f"tests.support.fake_brokers.{kind}:create_app", env=env,
                          log_path=log_path, port=port)  # fmt: skip


def live_env(kind: str, broker_url: str, recordings: Path, **extra: str) -> dict[str, str]:
    """Environment of a market-data instance on the fake `kind` broker at `broker_url`."""
    env = {"APP_ENV": "test", "MARKET_DATA_PROVIDER": kind, "MARKET_DATA_FAULT": "none",
           "RECORDINGS_DIR": str(recordings)}  # fmt: skip
    if kind == "openalgo":
        env |= {"OPENALGO_URL": broker_url, "OPENALGO_API_KEY": OPENALGO_KEY}
    else:
        env |= {"UPSTOX_URL": broker_url, "UPSTOX_ACCESS_TOKEN": UPSTOX_TOKEN}
    return env | extra


def control(broker: ServiceProcess, **changes: object) -> dict[str, object]:
    """Switch a fake broker's behaviour (mode, delay, lag, zero_strikes, ...); its counts."""
    response = httpx.post(f"{broker.url}/_control", json=changes, timeout=5)
    response.raise_for_status()
    body: dict[str, object] = response.json()
    return body
