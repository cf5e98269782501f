"""The order service app: `uvicorn order_service.main:create_app --factory`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from optrade.app import build_app, database_ready
from optrade.clients.market_data import MarketDataClient, latest_market_instant
from optrade.db.engine import create_async_db_engine, create_db_engine
from optrade.domain import utcnow
from optrade.observability import configure_logging
from optrade.settings import check_production_settings, get_app_settings, get_database_settings
from order_service.api import (
    accounts,
    engine,
    ml_routes,
    openalgo,
    orders,
    positions,
    settlements,
    strategies,
    trades,
)
from order_service.api.deps import READ_GUARD
from order_service.application import Repository
from order_service.settings import get_order_settings

log = logging.getLogger(__name__)

DESCRIPTION = """Paper orders on NSE index options that become complete training records.

Fills: BUY at the ask, SELL at the bid (the last price where that side is empty), from a quote
captured from the primary market-data service, else the fallback. Prices and P&L in rupees on the
0.05 tick (JSON strings); quantities in lots; timestamps ISO-8601 UTC. Units of the snapshot:
`iv` percent, `delta` per point, `gamma` per point², `theta` premium per calendar day, `vega`
premium per vol point. Mutating endpoints need `Authorization: Bearer <API_KEY>`.
"""


def create_app(*, market_data: MarketDataClient | None = None) -> FastAPI:
    """Build the app; `market_data` replaces the client built from settings (tests)."""
    app_settings = get_app_settings()
    configure_logging("order", app_settings.log_level, app_settings.log_json)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = get_database_settings()
        check_production_settings(get_app_settings(), database)
        app.state.engine = create_db_engine(database)
        app.state.async_engine = create_async_db_engine(database)
        app.state.repository = Repository(app.state.async_engine)  # the order core's reads, writes
        app.state.settings = get_order_settings()  # the routes read these, never the environment
        app.state.market_data = market_data or MarketDataClient.from_settings()
        # Load the NSE calendar (quote ages are measured from the last session) now, not in the
        # first order: it takes a second or two.
        latest_market_instant(utcnow())
        log.info(
            "order service ready",
            extra={
                "market_data": {i.name: i.base_url for i in app.state.market_data.instances},
                "capture_enabled": app.state.settings.capture_enabled,
            },
        )
        try:
            yield
        finally:
            await app.state.market_data.aclose()
            await app.state.async_engine.dispose()
            app.state.engine.dispose()

    app = build_app(
        service="order",
        title="Optrade order service",
        description=DESCRIPTION,
        lifespan=lifespan,
        readiness={"database": database_ready},
        read_guard=READ_GUARD,
    )
    # Routes are matched in order: the order path's first (a request is tried against every route
    # included before its own), ml before trades (/export before /{trade_id}).
    for module in (
        orders,
        positions,
        accounts,
        ml_routes,
        engine,
        settlements,
        strategies,
        trades,
        openalgo,
    ):
        # Trades carry each model's features: closed by ORDER_READ_API_KEY when it is set.
        app.include_router(module.router, dependencies=[READ_GUARD] if module is trades else None)
    return app
