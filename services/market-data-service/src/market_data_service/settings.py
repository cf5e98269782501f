"""Settings of the market-data service, read from the environment when first asked for."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from optrade.settings import cached_settings, deprecated_env

FaultMode = Literal["none", "error500", "garbage", "nan", "stale", "hang"]
ProviderName = Literal["simulated", "nse-replay", "recorded", "openalgo", "upstox"]
LIVE_PROVIDERS = ("openalgo", "upstox")


class MarketDataSettings(BaseSettings):
    """Which market to serve, the rates used for Greeks, and the test-only fault knob."""

    # The replay and rate settings read MARKET_DATA_* first and their old unprefixed names too.
    model_config = SettingsConfigDict(
        env_file=".env",
        extra="ignore",
        env_file_encoding="utf-8",
        validate_by_name=True,
        loc_by_alias=False,
    )

    market_data_provider: ProviderName = "simulated"
    market_data_instance: Literal["primary", "fallback"] = "primary"
    market_data_seed: int = 42
    nse_replay_dir: Path | None = Field(
        None, validation_alias=deprecated_env("MARKET_DATA_NSE_REPLAY_DIR", "NSE_REPLAY_DIR")
    )
    india_vix_file: Path | None = Field(
        None, validation_alias=deprecated_env("MARKET_DATA_INDIA_VIX_FILE", "INDIA_VIX_FILE")
    )
    risk_free_rate: float = Field(
        0.065,
        ge=-0.5,
        le=1.0,
        description="decimal, continuous",
        validation_alias=deprecated_env("MARKET_DATA_RISK_FREE_RATE", "RISK_FREE_RATE"),
    )
    dividend_yield: float = Field(
        0.0,
        ge=-0.5,
        le=1.0,
        description="decimal, continuous",
        validation_alias=deprecated_env("MARKET_DATA_DIVIDEND_YIELD", "DIVIDEND_YIELD"),
    )
    market_data_fault: FaultMode = "none"
    market_data_hang_seconds: float = Field(300.0, gt=0)
    # live providers (docs/market-data.md)
    openalgo_url: str = "http://127.0.0.1:5000"
    openalgo_api_key: SecretStr | None = None
    openalgo_strike_count: int | None = Field(None, ge=1, le=100)  # None: the whole chain
    openalgo_cache_seconds: float = Field(1.0, gt=0, le=60)  # API_RATE_LIMIT default 10/s
    upstox_url: str = "https://api.upstox.com"
    upstox_access_token: SecretStr | None = None
    upstox_cache_seconds: float = Field(3.0, gt=0, le=60)  # 2000 requests / 30 min per API
    live_max_quote_age: float = Field(30.0, gt=0, description="seconds; older data is stale")
    live_connect_timeout: float = Field(2.0, gt=0)
    live_read_timeout: float = Field(10.0, gt=0)  # a whole chain can take seconds upstream
    # recordings of live chains, and the `recorded` provider that replays them
    optrade_data_dir: Path | None = None
    recordings_dir: Path | None = None  # default <OPTRADE_DATA_DIR or ./data>/recordings
    market_data_record: bool = True
    recorded_provider: str | None = None  # replay only this provider's recordings

    def recordings_root(self) -> Path:
        """Where recordings are written and read."""
        if self.recordings_dir is not None:
            return self.recordings_dir
        return (self.optrade_data_dir or Path("data")) / "recordings"


@cached_settings
def get_settings() -> MarketDataSettings:
    return MarketDataSettings()
