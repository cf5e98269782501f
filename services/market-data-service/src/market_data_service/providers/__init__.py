"""Market-data providers behind one interface, and the factory that picks one from settings."""

from __future__ import annotations

from market_data_service.providers.base import MarketDataProvider
from market_data_service.settings import LIVE_PROVIDERS, MarketDataSettings


def build_provider(settings: MarketDataSettings) -> MarketDataProvider:
    """The provider named by `MARKET_DATA_PROVIDER`, ready to serve."""
    name = settings.market_data_provider
    if name == "nse-replay":
        from market_data_service.providers.nse_replay import NseReplayProvider

        return NseReplayProvider.from_settings(settings)
    if name in LIVE_PROVIDERS:
        from market_data_service.providers.live.factory import build_live_provider

        return build_live_provider(settings)  # type: ignore[return-value]
    if name == "recorded":
        from market_data_service.providers.live.factory import build_recorded_provider

        return build_recorded_provider(settings)
    from market_data_service.providers.simulated import SimulatedProvider

    return SimulatedProvider(
        seed=settings.market_data_seed,
        rate=settings.risk_free_rate,
        dividend_yield=settings.dividend_yield,
    )
