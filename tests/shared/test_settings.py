"""One settings story: prefixed names, deprecated names still read, one reset for every cache."""

from __future__ import annotations

import pytest

from market_data_service.settings import MarketDataSettings
from optrade.clients.market_data import MarketDataClientSettings
from optrade.settings import reset_all_settings
from order_service.settings import OrderSettings, get_order_settings


@pytest.mark.parametrize(
    ("settings", "field", "new", "old", "value", "expected"),
    [
        (OrderSettings, "capture_enabled", "ORDER_CAPTURE_ENABLED", "CAPTURE_ENABLED", "0", False),
        (OrderSettings, "as_of_max_skew", "ORDER_AS_OF_MAX_SKEW", "AS_OF_MAX_SKEW", "9", 9.0),
        (
            MarketDataSettings,
            "risk_free_rate",
            "MARKET_DATA_RISK_FREE_RATE",
            "RISK_FREE_RATE",
            "0.07",
            0.07,
        ),
        (
            MarketDataSettings,
            "live_read_timeout",
            "MARKET_DATA_LIVE_READ_TIMEOUT",
            "LIVE_READ_TIMEOUT",
            "4",
            4.0,
        ),
        (
            MarketDataClientSettings,
            "read_timeout",
            "MARKET_DATA_CLIENT_READ_TIMEOUT",
            "MARKET_DATA_READ_TIMEOUT",
            "3",
            3.0,
        ),
    ],
)
def test_prefixed_name_is_read_and_the_deprecated_one_still_works(
    monkeypatch: pytest.MonkeyPatch,
    settings: type,
    field: str,
    new: str,
    old: str,
    value: str,
    expected: object,
) -> None:
    monkeypatch.setenv(new, value)
    assert getattr(settings(), field) == expected
    monkeypatch.delenv(new)
    monkeypatch.setenv(old, value)
    assert getattr(settings(), field) == expected


def test_the_prefixed_name_wins_over_the_deprecated_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISK_FREE_RATE", "0.01")
    monkeypatch.setenv("MARKET_DATA_RISK_FREE_RATE", "0.02")
    assert MarketDataSettings().risk_free_rate == 0.02


def test_client_and_service_no_longer_share_a_prefix() -> None:
    client = MarketDataClientSettings.model_config.get("env_prefix")
    assert client == "MARKET_DATA_CLIENT_"
    assert OrderSettings.model_config.get("env_prefix") == "ORDER_"


def test_reset_all_settings_forgets_every_service_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDER_AS_OF_MAX_SKEW", "1")
    assert get_order_settings().as_of_max_skew == 1.0
    monkeypatch.setenv("ORDER_AS_OF_MAX_SKEW", "2")
    assert get_order_settings().as_of_max_skew == 1.0  # cached
    reset_all_settings()
    assert get_order_settings().as_of_max_skew == 2.0
