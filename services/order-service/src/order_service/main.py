"""The order service app: `uvicorn order_service.main:create_app --factory`."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from optrade.app import build_app, database_ready
from optrade.clients.market_data import MarketDataClient, latest_market_instant
from optrade.db.engine import create_async_db_engine, create_db_engine
from optrade.domain import utcnow
from optrade.observability import configure_logging
from optrade.settings import check_production_settings, get_app_settings, get_database_settings
from order_service.api import ml_routes, orders, positions, settlements, trades
from order_service.api.deps import READ_GUARD
from order_service.settings import get_order_settings
from order_service.settlement import run_settlement

log = logging.getLogger(__name__)

DESCRIPTION = """Paper orders on NSE index options that become complete training records.

Fills: BUY at the ask, SELL at the bid (the last price where that side is empty), from a quote
captured from the primary market-data service, else the fallback. Prices and P&L in rupees on the
0.05 tick (JSON strings); quantities in lots; timestamps ISO-8601 UTC. Units of the snapshot:
`iv` percent, `delta` per point, `gamma` per point², `theta` premium per calendar day, `vega`
premium per vol point. Mutating endpoints need `Authorization: Bearer <API_KEY>`.
"""


def _settle_at_startup(app: FastAPI) -> None:
    try:
        run = run_settlement(app.state.engine, app.state.market_data, now=utcnow())
    except Exception:  # a background thread: log, never take the service down
        log.exception("settlement at startup failed; the next scheduled run retries")
        return
    if run.settled or run.pending:
        log.info("settlement at startup: %d settled, %d expiries pending",
                 len(run.settled), len(run.pending))  # fmt: skip


def create_app(*, market_data: MarketDataClient | None = None) -> FastAPI:
    """Build the app; `market_data` replaces the client built from settings (tests)."""
    app_settings = get_app_settings()
    configure_logging("order", app_settings.log_level, app_settings.log_json)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = get_database_settings()
        check_production_settings(get_app_settings(), database)
        app.state.engine = create_db_engine(database)
        app.state.async_engine = create_async_db_engine(database)  # open and close
        app.state.settings = get_order_settings()  # the routes read these, never the environment
        app.state.market_data = market_data or MarketDataClient.from_settings()
        # Load the NSE calendar (quote ages are measured from the last session) now, not in the
        # first order: it takes a second or two.
        latest_market_instant(utcnow())
        # Positions whose expiry passed while the service was down settle now, off the startup
        # path (market data may still be starting: those stay pending for the next run).
        threading.Thread(
            target=_settle_at_startup, args=(app,), name="settlement-at-startup", daemon=True
        ).start()
        log.info(
            "order service ready",
            extra={
                "market_data": {p.name: p.base_url for p in app.state.market_data.providers},
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
    for module in (
        ml_routes,
        orders,
        positions,
        settlements,
        trades,
    ):  # ml first: /export before /{trade_id}
        # Trades carry each model's features: closed by ORDER_READ_API_KEY when it is set.
        app.include_router(module.router, dependencies=[READ_GUARD] if module is trades else None)
    return app
