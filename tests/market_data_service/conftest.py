"""Fixtures for the market-data service: in-process apps per provider, real NSE data paths."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from market_data_service.main import create_app
from market_data_service.settings import MarketDataSettings
from optrade.settings import reset_all_settings
from tests.conftest import INDIA_VIX_FILE, NSE_HISTORY_DIR


def in_process_client(settings: MarketDataSettings) -> Any:
    """FastAPI's TestClient, imported without starlette's `httpx2` deprecation warning."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
        from fastapi.testclient import TestClient
    return TestClient(create_app(settings))


def replay_settings(snapshot_dir: Path, **overrides: Any) -> MarketDataSettings:
    fields: dict[str, Any] = {"market_data_provider": "nse-replay", "nse_replay_dir": snapshot_dir,
                              "india_vix_file": INDIA_VIX_FILE}  # fmt: skip
    return MarketDataSettings(**(fields | overrides))


@pytest.fixture(autouse=True)
def _fresh_market_data_settings() -> Iterator[None]:
    reset_all_settings()
    yield
    reset_all_settings()


@pytest.fixture(scope="module")
def replay(nse_snapshot_dir: Path) -> Iterator[Any]:
    """The app on the real NSE snapshots with India VIX, lifespan run once per module."""
    with in_process_client(replay_settings(nse_snapshot_dir)) as client:
        yield client


@pytest.fixture(scope="module")
def nse_history_dir() -> Path:
    """The six weeks of real NSE history as they ship: one folder a day, `*.json.gz`, index.csv."""
    assert (NSE_HISTORY_DIR / "index.csv").is_file(), f"NSE history not found at {NSE_HISTORY_DIR}"
    return NSE_HISTORY_DIR


@pytest.fixture(scope="module")
def history(nse_history_dir: Path) -> Iterator[Any]:
    """The app replaying the six weeks with India VIX, lifespan run once per module."""
    with in_process_client(replay_settings(nse_history_dir)) as client:
        yield client


@pytest.fixture(scope="module")
def simulated() -> Iterator[Any]:
    """The app on the simulated market, seed 42."""
    with in_process_client(MarketDataSettings(market_data_seed=42)) as client:
        yield client
