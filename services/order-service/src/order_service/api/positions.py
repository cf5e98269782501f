"""Positions: list, read, their trades, and close."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Response
from sqlalchemy import Engine
from sqlalchemy.engine import Row
from sqlmodel import Session, select
from starlette.concurrency import run_in_threadpool

from optrade.calendar import expiry_close
from optrade.clients.market_data import MarketDataClient
from optrade.db.models import Position, Trade
from optrade.domain import PositionStatus
from optrade.security import ApiKeyDep
from order_service.api.deps import (
    AsyncEngineDep,
    EngineDep,
    IdempotencyKeyDep,
    MarketClockDep,
    MarketDataDep,
    PageDep,
    PositionDep,
    SettingsDep,
    WindowDep,
    price_bounds,
)
from order_service.api.orders import REPLAYED_HEADER
from order_service.orders import close_position
from order_service.queries import list_positions, list_trades
from order_service.schemas import (
    CloseRequest,
    CloseResult,
    PositionPage,
    PositionPublic,
    TradePage,
    TradePublic,
)
from order_service.settlement import settle_on_close
from order_service.store import read_position

router = APIRouter(prefix="/v1/positions", tags=["positions"])

CLOSE_ERRORS = {
    401: {"description": "missing or wrong API key"},
    404: {"description": "no such position"},
    409: {"description": "already closed, or fewer lots open than asked"},
    422: {
        "description": "invalid field, a reused Idempotency-Key, an exit_price outside the "
        "captured bid/ask ± tolerance, or `market_closed`"
    },
    503: {"description": "no market-data provider answered and no exit_price; position untouched"},
}


@router.get(
    "",
    response_model=PositionPage,
    summary="Positions, newest first",
    operation_id="listPositions",
)
def positions(
    engine: EngineDep,
    window: WindowDep,
    page_request: PageDep,
    status: Annotated[Literal["open", "closed"] | None, Query()] = None,
) -> PositionPage:
    """List positions opened in [from, to), filtered by status, underlying and model version."""
    page = list_positions(engine, window, page_request, status=status)
    items = [PositionPublic.model_validate(p) for p in page.items]
    return PositionPage(items=items, total=page.total, limit=page.limit, offset=page.offset)


@router.get(
    "/{position_id}",
    response_model=PositionPublic,
    responses={404: {}},
    operation_id="getPosition",
)
def position(found: PositionDep) -> PositionPublic:
    """One position."""
    return PositionPublic.model_validate(found)


@router.get(
    "/{position_id}/trades",
    response_model=TradePage,
    responses={404: {}},
    operation_id="listPositionTrades",
)
def position_trades(
    found: PositionDep, engine: EngineDep, window: WindowDep, page_request: PageDep
) -> TradePage:
    """The trades (closes) of one position, newest first."""
    page = list_trades(engine, window, page_request, position_id=found.id)
    items = [TradePublic.model_validate(t) for t in page.items]
    return TradePage(items=items, total=page.total, limit=page.limit, offset=page.offset)


@router.post(
    "/{position_id}/close",
    response_model=CloseResult,
    dependencies=[ApiKeyDep],
    responses=CLOSE_ERRORS,  # type: ignore[arg-type]
    summary="Close all or part of a position as one trade",
    operation_id="closePosition",
)
async def close(
    position_id: int,
    response: Response,
    engine: EngineDep,
    async_engine: AsyncEngineDep,
    market_data: MarketDataDep,
    settings: SettingsDep,
    clock: MarketClockDep,
    request: Annotated[CloseRequest | None, Body()] = None,
    idempotency_key: IdempotencyKeyDep = None,
) -> CloseResult:
    """Close at the captured quote (or the client's exit_price); a repeated key replays.

    At or after 15:30 IST on the expiry day, without an exit_price, the whole position settles
    at intrinsic value against the index close instead (exit source `settlement`).
    """
    request = request or CloseRequest()
    instant = clock.instant(request.as_of)
    found = await read_position(async_engine, position_id)
    if request.exit_price is None and _expired_open(found, instant):
        # Rare (a close asked after expiry): the sync settlement path, in a worker thread.
        settled = await run_in_threadpool(
            _settle, engine, market_data, position_id, instant, idempotency_key
        )
        if settled is not None:
            trade, position = settled
            return CloseResult(
                trade=TradePublic.model_validate(trade),
                position=PositionPublic.model_validate(position),
            )
    outcome = await close_position(
        engine=async_engine,
        market_data=market_data,
        position=found,
        close=request,
        idempotency_key=idempotency_key,
        timing=clock.timing(request.as_of),
        bounds=price_bounds(settings),
        capture_enabled=settings.capture_enabled,
    )
    if outcome.replayed:
        response.headers[REPLAYED_HEADER] = "true"
    if deprecated := request.deprecation():
        response.headers["Deprecation"] = deprecated
    return CloseResult(
        trade=TradePublic.model_validate(outcome.trade._mapping),
        position=PositionPublic.model_validate(outcome.position),
    )


def _expired_open(position: Row[Any], instant: datetime) -> bool:
    return position.status == PositionStatus.OPEN and expiry_close(position.expiry) <= instant


def _settle(
    engine: Engine,
    market_data: MarketDataClient,
    position_id: int,
    instant: datetime,
    idempotency_key: str | None,
) -> tuple[Trade, Position] | None:
    """Settle an expired position on its close, unless this close is a retry of one that was
    done (it replays, whatever the time now)."""
    if _is_retry(engine, idempotency_key):
        return None
    return settle_on_close(engine, market_data, position_id, instant)


def _is_retry(engine: Engine, idempotency_key: str | None) -> bool:
    """Whether a close with this key was already done."""
    if idempotency_key is None:
        return False
    with Session(engine) as session:
        query = select(Trade.id).where(Trade.close_idempotency_key == idempotency_key)
        return session.exec(query).first() is not None
