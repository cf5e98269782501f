"""Settings of the market-data service, read from the environment when first asked for."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

FaultMode = Literal["none", "error500", "garbage", "nan", "stale", "hang"]


class MarketDataSettings(BaseSettings):
    """Which market to serve, the rates used for Greeks, and the test-only fault knob."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_file_encoding="utf-8")

    market_data_provider: Literal["simulated", "nse-replay"] = "simulated"
    market_data_instance: Literal["primary", "fallback"] = "primary"
    market_data_seed: int = 42
    nse_replay_dir: Path | None = None
    india_vix_file: Path | None = None
    risk_free_rate: float = Field(0.065, ge=-0.5, le=1.0, description="decimal, continuous")
    dividend_yield: float = Field(0.0, ge=-0.5, le=1.0, description="decimal, continuous")
    market_data_fault: FaultMode = "none"
    market_data_hang_seconds: float = Field(300.0, gt=0)


@lru_cache
def get_settings() -> MarketDataSettings:
    return MarketDataSettings()


def reset_settings_cache() -> None:
    """Forget the cached settings so the next access reads the environment again (tests)."""
    get_settings.cache_clear()
