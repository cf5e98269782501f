"""Positions: list, read, their trades, and close."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Query, Response

from optrade.security import ApiKeyDep
from order_service.api.deps import (
    IdempotencyKeyDep,
    MarketClockDep,
    MarketDataDep,
    PageDep,
    RepositoryDep,
    SettingsDep,
    WindowDep,
    price_bounds,
)
from order_service.api.orders import REPLAYED_HEADER
from order_service.application.amending import set_exits
from order_service.application.client_close import close_on_request
from order_service.application.reading import get_position, list_positions, list_trades
from order_service.domain.exits import PositionExits
from order_service.schemas import (
    CloseRequest,
    CloseResult,
    ExitsRequest,
    PositionPage,
    PositionPublic,
    TradePage,
    TradePublic,
)

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
async def positions(
    repository: RepositoryDep,
    window: WindowDep,
    page_request: PageDep,
    status: Annotated[Literal["open", "closed"] | None, Query()] = None,
) -> PositionPage:
    """List positions opened in [from, to), filtered by status, underlying and model version."""
    page = await list_positions(repository, window, page_request, status=status)
    items = [PositionPublic.model_validate(p) for p in page.items]
    return PositionPage(items=items, total=page.total, limit=page.limit, offset=page.offset)


@router.get(
    "/{position_id}",
    response_model=PositionPublic,
    responses={404: {}},
    operation_id="getPosition",
)
async def position(position_id: int, repository: RepositoryDep) -> PositionPublic:
    """One position."""
    return PositionPublic.model_validate(await get_position(repository, position_id))


@router.get(
    "/{position_id}/trades",
    response_model=TradePage,
    responses={404: {}},
    operation_id="listPositionTrades",
)
async def position_trades(
    position_id: int, repository: RepositoryDep, window: WindowDep, page_request: PageDep
) -> TradePage:
    """The trades (closes) of one position, newest first."""
    found = await get_position(repository, position_id)
    page = await list_trades(repository, window, page_request, position_id=found.id)
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
    repository: RepositoryDep,
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
    outcome = await close_on_request(
        repository=repository,
        market_data=market_data,
        position_id=position_id,
        close=request,
        idempotency_key=idempotency_key,
        clock=clock,
        bounds=price_bounds(settings),
        capture_enabled=settings.capture_enabled,
    )
    if outcome.replayed:
        response.headers[REPLAYED_HEADER] = "true"
    if deprecated := request.deprecation():
        response.headers["Deprecation"] = deprecated
    return CloseResult(
        trade=TradePublic.model_validate(outcome.trade),
        position=PositionPublic.model_validate(outcome.position),
    )


@router.put(
    "/{position_id}/exits",
    response_model=PositionPublic,
    dependencies=[ApiKeyDep],
    responses={
        401: {"description": "missing or wrong API key"},
        404: {"description": "no such position"},
        409: {"description": "the position is closed"},
        422: {"description": "a stop already crossed, a target already reached, exit_at past"},
        503: {"description": "no market-data provider answered; exits unchanged"},
    },
    summary="Set the exits the platform executes for a position (replaces the earlier ones)",
    operation_id="setPositionExits",
)
async def exits(
    position_id: int,
    request: ExitsRequest,
    repository: RepositoryDep,
    market_data: MarketDataDep,
    settings: SettingsDep,
    clock: MarketClockDep,
) -> PositionPublic:
    """stop_loss and target (premiums), trailing_stop (points), exit_at (an instant): the
    first to fire closes the position's open lots (docs/matching.md)."""
    changed = await set_exits(
        repository,
        market_data,
        position_id,
        PositionExits(request.stop_loss, request.target, request.trailing_stop, request.exit_at),
        clock,
        request.as_of,
        settings.square_off_time,
    )
    return PositionPublic.model_validate(changed)
