"""Order-service settings (`ORDER_*`); the market-data URLs, timeouts and breakers are
`MARKET_DATA_CLIENT_*` (`optrade.clients.market_data.MarketDataClientSettings`)."""

from __future__ import annotations

from datetime import time
from decimal import Decimal

from pydantic import AliasChoices, Field, SecretStr
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
    # How far a client's `as_of` may lie from now (clock skew), in seconds: later is refused,
    # earlier makes the position or trade a `replay`.
    as_of_max_skew: float = Field(
        5.0, validation_alias=deprecated_env("ORDER_AS_OF_MAX_SKEW", "AS_OF_MAX_SKEW")
    )
    # Orders and closes without `as_of` outside the NSE session: refused (422 market_closed) when
    # false; when true they fill from the last session's closing quote, marked `off_hours`.
    # Read as ALLOW_OFF_HOURS_ORDERS, the name issue 13 gave deployments, or with the prefix.
    allow_off_hours_orders: bool = Field(
        False,
        validation_alias=AliasChoices("ALLOW_OFF_HOURS_ORDERS", "ORDER_ALLOW_OFF_HOURS_ORDERS"),
    )
    # A client `exit_price` must lie within [bid - tolerance, ask + tolerance] of the captured
    # quote, tolerance = max(ticks × 0.05, percent of the mid).
    exit_price_tolerance_ticks: int = Field(default=4, ge=0)
    exit_price_tolerance_percent: Decimal = Field(default=Decimal("1.0"), ge=0)
    # With no quote to compare, a client `exit_price` must stay below this multiple of the entry.
    client_price_max_entry_multiple: Decimal = Field(default=Decimal("20"), gt=0)
    # MIS positions are squared off at the first observation at or after this IST time of the
    # day they opened (ORDER_SQUARE_OFF_TIME, HH:MM); MIS orders are refused from then on.
    square_off_time: time = Field(default=time(15, 15))
    # The order engine (`python -m order_service.engine`): how often it wakes (seconds), how often
    # it sweeps for positions whose expiry has passed (and at 15:30 IST), and how long its
    # leadership lasts unless renewed (another engine takes over after that).
    engine_poll_interval: float = Field(default=1.0, gt=0, le=60)
    engine_settlement_interval: float = Field(default=60.0, gt=0)
    engine_lease_seconds: float = Field(default=15.0, gt=0)
    # The starting capital of a paper account nobody set one for (`PUT /v1/accounts/{account}`),
    # rupees (issue 22, docs/accounts.md).
    account_capital: Decimal = Field(default=Decimal("1000000"), gt=0, le=Decimal("1e11"))
    # Reads that expose a model's features (trades, the export and its manifest, /metrics) are
    # open while unset; set, they need `Authorization: Bearer` this key (or API_KEY).
    read_api_key: SecretStr | None = None


@cached_settings
def get_order_settings() -> OrderSettings:
    return OrderSettings()
