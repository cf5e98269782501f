"""Market-data service: option chains, quotes, market context and a Greeks calculator over HTTP.

Run: `uvicorn market_data_service.main:create_app --factory`. Endpoints (README.md, "API
overview": `/v1/underlyings`, `/v1/chain/{u}`, `/v1/quote/{u}`, `/v1/context/{u}`,
`POST /v1/greeks`, `/v1/settlement/{u}`, `/v1/replay/instants`, `/healthz`, `/readyz`,
`/metrics`).

Settings (environment or `.env`, read when the app is created):
- `MARKET_DATA_PROVIDER`: `simulated` (default; deterministic, see providers/simulated.py),
  `nse-replay` (recorded NSE snapshots, see providers/nse_replay/), `openalgo` or `upstox`
  (live upstreams, see providers/live/ and docs/market-data.md) or `recorded` (replays what a
  live provider served, see providers/recording.py).
- `MARKET_DATA_NSE_REPLAY_DIR`: folder of NSE option-chain snapshots, searched recursively
  (`*.json`, `*.json.gz`, legacy `*.csv`; nse-replay only).
- `MARKET_DATA_REPLAY_MAX_AGE` (45 minutes): the oldest snapshot of the same session that may
  serve an `as_of`; otherwise 404 no_data naming the next instant with data.
- `MARKET_DATA_INDIA_VIX_FILE`: India VIX daily CSV for nse-replay; unset: VIX is null.
- `MARKET_DATA_SEED` (42): seed of the simulated market.
- `RISK_FREE_RATE` (unset) and `DIVIDEND_YIELD` (0): decimals, continuously compounded. Unset,
  the rate is the one in force at each chain's instant: RBI's 91-day T-bill cut-off yield from the
  dated table `optrade/rates.json` (docs/contracts.md); set, it fixes one rate for every instant.
- `MARKET_DATA_INSTANCE` (`primary`|`fallback`): informational; shown as `instance` in responses
  and in /healthz.
- `MARKET_DATA_FAULT` (`none`): test-only fault injection on /v1/quote and /v1/context, honoured
  only when APP_ENV is not `production` (ignored there, with a warning):
  `error500` answers 500; `garbage` answers 200 with malformed JSON; `nan` answers with NaN iv and
  Greeks (quote) or spot/VIX/PCR (context); `stale` moves `as_of` 6 hours back; `hang` never
  answers (until the client gives up, or `MARKET_DATA_HANG_SECONDS`, default 300).

`as_of` (every read): ISO-8601, naive = IST wall clock; see api/deps.py.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI

from market_data_service.api import calculator, market, replay
from market_data_service.faults import FaultInjectionMiddleware
from market_data_service.pricing import ChainPricer
from market_data_service.providers import build_provider
from market_data_service.providers.live.errors import ProviderError, provider_error_handler
from market_data_service.settings import MarketDataSettings, get_settings
from optrade.app import build_app
from optrade.observability import configure_logging
from optrade.settings import get_app_settings

log = logging.getLogger(__name__)
SERVICE = "market-data"


def provider_ready(app: FastAPI) -> None:
    """Readiness: the provider can answer for now."""
    app.state.provider.ready()


def create_app(settings: MarketDataSettings | None = None) -> FastAPI:
    """Build the app; the lifespan builds the provider once."""
    settings = settings or get_settings()
    app_settings = get_app_settings()
    configure_logging(SERVICE, app_settings.log_level, app_settings.log_json)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        provider = build_provider(settings)
        provider.ready()  # load the calendar and the first snapshot before the first request
        app.state.provider = provider
        app.state.settings = settings
        app.state.pricer = ChainPricer(
            rate=settings.risk_free_rate, dividend_yield=settings.dividend_yield
        )
        log.info(
            "market data ready",
            extra={"provider": provider.name, "instance": settings.market_data_instance,
                   "started_at": datetime.now(UTC).isoformat()},
        )  # fmt: skip
        try:
            yield
        finally:
            close = getattr(provider, "aclose", None)
            if close is not None:  # a live provider's HTTP client
                await close()

    app = build_app(
        service=SERVICE,
        title="Optrade market data",
        description=__doc__ or "",
        lifespan=lifespan,
        readiness={"provider": provider_ready},
        health_details={
            "provider": settings.market_data_provider,
            "instance": settings.market_data_instance,
        },
        min_body_bytes=calculator.MAX_BODY_BYTES,  # 10,000 greeks items; the route caps them
    )
    app.add_exception_handler(ProviderError, provider_error_handler)
    app.include_router(market.router)
    app.include_router(replay.router)
    app.include_router(calculator.router)
    fault = settings.market_data_fault
    if fault != "none" and app_settings.app_env == "production":
        log.warning("MARKET_DATA_FAULT=%s ignored: APP_ENV=production", fault)
    elif fault != "none":
        log.warning("fault injection active on /v1/quote and /v1/context: %s", fault)
        app.add_middleware(
            FaultInjectionMiddleware, mode=fault, hang_seconds=settings.market_data_hang_seconds
        )
    return app
