"""`POST /v1/orders`: open a paper position."""

from __future__ import annotations

from fastapi import APIRouter, Response

from optrade.security import ApiKeyDep
from order_service.api.deps import (
    EngineDep,
    IdempotencyKeyDep,
    MarketClockDep,
    MarketDataDep,
)
from order_service.orders import open_position
from order_service.schemas import OrderRequest, PositionPublic

router = APIRouter(prefix="/v1", tags=["orders"])

REPLAYED_HEADER = "Idempotent-Replayed"
ERRORS = {
    401: {"description": "missing or wrong API key"},
    409: {"description": "the quote has no price to fill at"},
    422: {"description": "invalid field, unknown strike/expiry, or a reused key/client_order_id"},
    503: {"description": "no market-data provider answered; nothing was written"},
}


@router.post(
    "/orders",
    status_code=201,
    response_model=PositionPublic,
    dependencies=[ApiKeyDep],
    responses=ERRORS,  # type: ignore[arg-type]
    summary="Open a paper position (BUY at the ask, SELL at the bid)",
)
def place_order(
    order: OrderRequest,
    response: Response,
    engine: EngineDep,
    market_data: MarketDataDep,
    clock: MarketClockDep,
    idempotency_key: IdempotencyKeyDep = None,
) -> PositionPublic:
    """Open a position at the captured quote; a repeated key replays the first position."""
    outcome = open_position(
        engine=engine,
        market_data=market_data,
        order=order,
        idempotency_key=idempotency_key,
        instant=clock.instant(order.as_of),
    )
    if outcome.replayed:
        response.headers[REPLAYED_HEADER] = "true"
    return PositionPublic.model_validate(outcome.position)
