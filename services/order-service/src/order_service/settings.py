"""Order-service settings (`ORDER_*`); the market-data URLs, timeouts and breakers are
`MARKET_DATA_CLIENT_*` (`optrade.clients.market_data.MarketDataClientSettings`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from optrade.settings import cached_settings, deprecated_env


class OrderSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ORDER_",
        env_file=".env",
        extra="ignore",
        validate_by_name=True,
        loc_by_alias=False,
    )

    # Off: a close records no exit snapshot (source `missing`, error "capture disabled") and fills
    # at the client's `exit_price`. Entry capture stays on: an open needs a price to fill at.
    capture_enabled: bool = Field(
        True, validation_alias=deprecated_env("ORDER_CAPTURE_ENABLED", "CAPTURE_ENABLED")
    )
    # How far in the future a client's `as_of` may lie (clock skew), in seconds.
    as_of_max_skew: float = Field(
        5.0, validation_alias=deprecated_env("ORDER_AS_OF_MAX_SKEW", "AS_OF_MAX_SKEW")
    )


@cached_settings
def get_order_settings() -> OrderSettings:
    return OrderSettings()
