"""`python -m order_service.engine`: run the order engine until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal

from optrade.clients.market_data import MarketDataClient, latest_market_instant
from optrade.db.engine import create_async_db_engine
from optrade.domain import utcnow
from optrade.observability import configure_logging
from optrade.settings import check_production_settings, get_app_settings, get_database_settings
from order_service.engine.loop import Engine
from order_service.repository import Repository
from order_service.settings import get_order_settings

log = logging.getLogger("order_service.engine")


async def main() -> None:
    app_settings = get_app_settings()
    configure_logging("order-engine", app_settings.log_level, app_settings.log_json)
    database = get_database_settings()
    check_production_settings(app_settings, database)
    engine = create_async_db_engine(database)
    market_data = MarketDataClient.from_settings()
    latest_market_instant(utcnow())  # load the NSE calendar now, not in the first tick
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    worker = Engine(Repository(engine), market_data, get_order_settings())
    log.info("order engine started", extra={"holder": worker.holder})
    try:
        await worker.run(stop)
    finally:
        await market_data.aclose()
        await engine.dispose()
        log.info("order engine stopped")


if __name__ == "__main__":
    asyncio.run(main())
