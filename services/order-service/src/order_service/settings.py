"""Order-service settings; the market-data URLs, timeouts and breakers are `MARKET_DATA_*`
(`optrade.clients.market_data.MarketDataClientSettings`)."""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict


class OrderSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # Off: a close records no exit snapshot (source `missing`, error "capture disabled") and fills
    # at the client's `exit_price`. Entry capture stays on: an open needs a price to fill at.
    capture_enabled: bool = True
    # How far in the future a client's `as_of` may lie (clock skew), in seconds.
    as_of_max_skew: float = 5.0


@lru_cache
def get_order_settings() -> OrderSettings:
    return OrderSettings()
