"""Settings of the market-data service, read from the environment when first asked for."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from optrade.settings import cached_settings, deprecated_env

FaultMode = Literal["none", "error500", "garbage", "nan", "stale", "hang"]
ProviderName = Literal["simulated", "nse-replay", "recorded", "openalgo", "upstox"]
LIVE_PROVIDERS = ("openalgo", "upstox")


def _md(name: str) -> AliasChoices:
    """`MARKET_DATA_<NAME>`, else the deprecated unprefixed `<NAME>`."""
    return deprecated_env(f"MARKET_DATA_{name}", name)


class MarketDataSettings(BaseSettings):
    """Which market to serve, the rates used for Greeks, and the test-only fault knob."""

    # Every setting is MARKET_DATA_*; the ones that had no prefix still read their old names too.
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
    replay_max_age: timedelta = Field(  # seconds, HH:MM:SS or ISO 8601 (PT45M)
        timedelta(minutes=45),
        gt=timedelta(0),
        description="nse-replay: oldest snapshot of the same session that may serve an as_of",
        validation_alias="MARKET_DATA_REPLAY_MAX_AGE",
    )
    india_vix_file: Path | None = Field(
        None, validation_alias=deprecated_env("MARKET_DATA_INDIA_VIX_FILE", "INDIA_VIX_FILE")
    )
    risk_free_rate: float | None = Field(  # None: RBI's 91-day T-bill yield at each instant
        None,
        ge=-0.5,
        le=1.0,
        description="decimal, continuous; unset: the dated 91-day T-bill table (optrade.rates)",
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
    openalgo_url: str = Field("http://127.0.0.1:5000", validation_alias=_md("OPENALGO_URL"))
    openalgo_api_key: SecretStr | None = Field(None, validation_alias=_md("OPENALGO_API_KEY"))
    openalgo_strike_count: int | None = Field(  # None: the whole chain
        None, ge=1, le=100, validation_alias=_md("OPENALGO_STRIKE_COUNT")
    )
    openalgo_cache_seconds: float = Field(  # API_RATE_LIMIT default 10/s
        1.0, gt=0, le=60, validation_alias=_md("OPENALGO_CACHE_SECONDS")
    )
    upstox_url: str = Field("https://api.upstox.com", validation_alias=_md("UPSTOX_URL"))
    upstox_access_token: SecretStr | None = Field(None, validation_alias=_md("UPSTOX_ACCESS_TOKEN"))
    upstox_cache_seconds: float = Field(  # 2000 requests / 30 min per API
        3.0, gt=0, le=60, validation_alias=_md("UPSTOX_CACHE_SECONDS")
    )
    live_max_quote_age: float = Field(
        30.0,
        gt=0,
        description="seconds; older data is stale",
        validation_alias=_md("LIVE_MAX_QUOTE_AGE"),
    )
    live_connect_timeout: float = Field(2.0, gt=0, validation_alias=_md("LIVE_CONNECT_TIMEOUT"))
    live_read_timeout: float = Field(  # a whole chain can take seconds upstream
        10.0, gt=0, validation_alias=_md("LIVE_READ_TIMEOUT")
    )
    # recordings of live chains, and the `recorded` provider that replays them
    optrade_data_dir: Path | None = None  # the whole installation's data folder (make run's too)
    recordings_dir: Path | None = Field(  # default <OPTRADE_DATA_DIR or ./data>/recordings
        None, validation_alias=_md("RECORDINGS_DIR")
    )
    market_data_record: bool = True
    recorded_provider: str | None = Field(  # replay only this provider's recordings
        None, validation_alias=_md("RECORDED_PROVIDER")
    )

    @field_validator("replay_max_age", mode="before")
    @classmethod
    def _seconds(cls, value: object) -> object:
        """`MARKET_DATA_REPLAY_MAX_AGE=600` is seconds, like every other duration here."""
        if isinstance(value, str) and value.strip().replace(".", "", 1).isdigit():
            return float(value)
        return value

    def recordings_root(self) -> Path:
        """Where recordings are written and read."""
        if self.recordings_dir is not None:
            return self.recordings_dir
        return (self.optrade_data_dir or Path("data")) / "recordings"


@cached_settings
def get_settings() -> MarketDataSettings:
    return MarketDataSettings()
