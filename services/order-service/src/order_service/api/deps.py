"""Dependencies the routes share: engine, market-data client, clock, position, listing filters.

`async def` because they are quick and never block: FastAPI runs a plain `def` dependency in its
thread pool, one hand-off per dependency per request.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import Depends, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from optrade.clients.market_data import MarketDataClient
from optrade.domain import TradeMode, TradeWindow, utcnow
from optrade.instants import INSTANT_DESCRIPTION, instant_param
from optrade.security import read_key_guard
from order_service.application import PageRequest, Repository
from order_service.fills import ClientPriceBounds
from order_service.market_hours import MarketClock
from order_service.settings import OrderSettings, get_order_settings

MAX_PAGE = 500


async def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


async def _async_engine(request: Request) -> AsyncEngine:
    engine: AsyncEngine = request.app.state.async_engine
    return engine


async def _repository(request: Request) -> Repository:
    repository: Repository = request.app.state.repository
    return repository


async def _market_data(request: Request) -> MarketDataClient:
    client: MarketDataClient = request.app.state.market_data
    return client


async def _window(
    underlying: Annotated[str | None, Query(max_length=20)] = None,
    model_version: Annotated[str | None, Query(max_length=64)] = None,
    start: Annotated[
        str | None,
        Query(alias="from", description=f"inclusive; {INSTANT_DESCRIPTION}", max_length=64),
    ] = None,
    end: Annotated[
        str | None,
        Query(
            alias="to",
            description=f"exclusive, later than from; {INSTANT_DESCRIPTION}",
            max_length=64,
        ),
    ] = None,
    mode: Annotated[
        TradeMode | None,
        Query(
            description="`live` or `replay` only; default both (performance: `live`). A "
            "`replay` was filled at a client's past `as_of`"
        ),
    ] = None,
) -> TradeWindow:
    """The window of a listing, export or report; `to` not later than `from` is a 422 on `to`.

    `from`/`to` are read as every service reads them (`optrade.instants`): a date, a naive
    date-time (IST) or one with an offset.
    """
    lower, upper = instant_param("from", start), instant_param("to", end)
    try:
        return TradeWindow.model_validate(
            {
                "from": lower,
                "to": upper,
                "underlying": underlying,
                "model_version": model_version,
                "mode": mode.value if mode else None,
            }
        )
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("query", *error["loc"])} for error in exc.errors()]
        ) from exc


async def _page(
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> PageRequest:
    return PageRequest(limit, offset)


async def order_settings(request: Request) -> OrderSettings:
    """The settings the app's lifespan read at start-up."""
    settings: OrderSettings = request.app.state.settings
    return settings


async def clock() -> datetime:
    """Now; a dependency so that tests can stand at a chosen instant (a Saturday, 15:31 IST)."""
    return utcnow()


async def _market_clock(
    settings: Annotated[OrderSettings, Depends(order_settings)],
    now: Annotated[datetime, Depends(clock)],
) -> MarketClock:
    return MarketClock(
        now, timedelta(seconds=settings.as_of_max_skew), settings.allow_off_hours_orders
    )


def price_bounds(settings: OrderSettings) -> ClientPriceBounds:
    """How far a client's exit price may stray from the captured quote (or the entry)."""
    return ClientPriceBounds(
        ticks=settings.exit_price_tolerance_ticks,
        percent=settings.exit_price_tolerance_percent,
        max_entry_multiple=settings.client_price_max_entry_multiple,
    )


EngineDep = Annotated[Engine, Depends(_engine)]
AsyncEngineDep = Annotated[AsyncEngine, Depends(_async_engine)]
RepositoryDep = Annotated[Repository, Depends(_repository)]  # every read and write of the core
MarketDataDep = Annotated[MarketDataClient, Depends(_market_data)]
SettingsDep = Annotated[OrderSettings, Depends(order_settings)]
WindowDep = Annotated[TradeWindow, Depends(_window)]
PageDep = Annotated[PageRequest, Depends(_page)]
MarketClockDep = Annotated[MarketClock, Depends(_market_clock)]
IdempotencyKeyDep = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="retries with the same key replay the first answer and never act twice",
    ),
]


# Reads that expose a model's features (trades, the training export and its manifest, /metrics):
# open while ORDER_READ_API_KEY is unset, then only with that key (or API_KEY).
READ_GUARD = read_key_guard(lambda: get_order_settings().read_api_key)
