"""Build a live (or recorded) provider from settings; refuse a live one without credentials."""

from __future__ import annotations

import logging
from typing import Any

from market_data_service.providers.live.http import UpstreamClient
from market_data_service.providers.live.openalgo import OpenAlgoUpstream
from market_data_service.providers.live.provider import LiveProvider, Upstream
from market_data_service.providers.live.upstox import UpstoxUpstream
from market_data_service.providers.recording import RecordedProvider, Recorder, RecordingStore
from market_data_service.settings import MarketDataSettings
from optrade.instruments import get_instruments
from optrade.settings import ConfigurationError, get_app_settings

log = logging.getLogger(__name__)

CREDENTIAL = {
    "openalgo": "MARKET_DATA_OPENALGO_API_KEY",
    "upstox": "MARKET_DATA_UPSTOX_ACCESS_TOKEN",
}


def _secret(settings: MarketDataSettings, provider: str) -> str:
    """The provider's credential; refused when absent in production, warned about elsewhere."""
    value = settings.openalgo_api_key if provider == "openalgo" else settings.upstox_access_token
    secret = value.get_secret_value() if value is not None else ""
    if not secret:
        message = f"MARKET_DATA_PROVIDER={provider} needs {CREDENTIAL[provider]}"
        if get_app_settings().app_env == "production":
            raise ConfigurationError(message)
        log.warning("%s; the upstream will refuse every request", message)
    return secret


def _upstream(settings: MarketDataSettings) -> tuple[Upstream, float]:
    provider = settings.market_data_provider
    secret = _secret(settings, provider)
    timeouts: dict[str, Any] = {"connect_timeout": settings.live_connect_timeout,
                                "read_timeout": settings.live_read_timeout}  # fmt: skip
    if provider == "openalgo":
        client = UpstreamClient(provider, settings.openalgo_url, secrets=[secret], **timeouts)
        upstream = OpenAlgoUpstream(client, secret, strike_count=settings.openalgo_strike_count)
        return upstream, settings.openalgo_cache_seconds
    headers = {"Authorization": f"Bearer {secret}", "Accept": "application/json"}
    client = UpstreamClient(
        provider, settings.upstox_url, headers=headers, secrets=[secret], **timeouts
    )
    return UpstoxUpstream(client), settings.upstox_cache_seconds


def build_live_provider(settings: MarketDataSettings) -> LiveProvider:
    """An OpenAlgo or Upstox provider; call inside the app's lifespan (it opens a client)."""
    upstream, cache_seconds = _upstream(settings)
    root = settings.recordings_root()
    instance = settings.market_data_instance
    return LiveProvider(
        upstream,
        instance=instance,
        instruments=get_instruments(),
        cache_seconds=cache_seconds,
        max_quote_age=settings.live_max_quote_age,
        recorder=Recorder(root, provider=upstream.name, instance=instance)
        if settings.market_data_record
        else None,
        history=RecordingStore(root, provider=upstream.name),
    )


def build_recorded_provider(settings: MarketDataSettings) -> RecordedProvider:
    root = settings.recordings_root()
    if not root.is_dir():
        raise ConfigurationError(
            "MARKET_DATA_PROVIDER=recorded needs MARKET_DATA_RECORDINGS_DIR (or "
            f"OPTRADE_DATA_DIR/recordings) to be a folder; got {root}"
        )
    label = settings.recorded_provider or "any provider"
    store = RecordingStore(root, provider=settings.recorded_provider)
    return RecordedProvider(store, get_instruments(), label=label)
