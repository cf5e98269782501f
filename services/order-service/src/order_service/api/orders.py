"""`POST /v1/orders`: open a paper position; read an order back by id or client_order_id.

An order here opens one position at once (a paper fill), so the order and the position it
opened share an id and a body: `GET /v1/orders/{id}` is `GET /v1/positions/{id}`, and
`GET /v1/orders?client_order_id=` finds it by the client's own id (as Alpaca's
`orders:by_client_order_id`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlmodel import Session, select

from optrade.db.models import Position
from optrade.errors import NotFound
from optrade.security import ApiKeyDep
from order_service.api.deps import (
    AsyncEngineDep,
    EngineDep,
    IdempotencyKeyDep,
    MarketClockDep,
    MarketDataDep,
)
from order_service.orders import open_position
from order_service.queries import get_position
from order_service.schemas import OrderRequest, PositionPublic

router = APIRouter(prefix="/v1", tags=["orders"])

REPLAYED_HEADER = "Idempotent-Replayed"
ERRORS = {
    401: {"description": "missing or wrong API key"},
    409: {"description": "the quote has no price to fill at"},
    422: {
        "description": "invalid field, unknown strike/expiry, a reused key/client_order_id, or "
        "`market_closed` (outside the NSE session with no as_of; names the next open)"
    },
    503: {"description": "no market-data provider answered; nothing was written"},
}


@router.post(
    "/orders",
    status_code=201,
    response_model=PositionPublic,
    dependencies=[ApiKeyDep],
    responses=ERRORS,  # type: ignore[arg-type]
    summary="Open a paper position (BUY at the ask, SELL at the bid)",
    operation_id="placeOrder",
)
async def place_order(
    order: OrderRequest,
    response: Response,
    engine: AsyncEngineDep,
    market_data: MarketDataDep,
    clock: MarketClockDep,
    idempotency_key: IdempotencyKeyDep = None,
) -> PositionPublic:
    """Open a position at the captured quote; a repeated key replays the first position."""
    outcome = await open_position(
        engine=engine,
        market_data=market_data,
        order=order,
        idempotency_key=idempotency_key,
        timing=clock.timing(order.as_of),
    )
    if outcome.replayed:
        response.headers[REPLAYED_HEADER] = "true"
    if deprecated := order.deprecation():
        response.headers["Deprecation"] = deprecated
    return PositionPublic.model_validate(outcome.position._mapping)


@router.get(
    "/orders",
    response_model=PositionPublic,
    responses={404: {"description": "no order has this client_order_id"}},
    summary="The order (its position) with this client_order_id",
    operation_id="getOrderByClientOrderId",
)
def order_by_client_order_id(
    engine: EngineDep,
    client_order_id: Annotated[str, Query(min_length=1, max_length=200)],
) -> PositionPublic:
    """Find an order by the client_order_id it was placed with."""
    with Session(engine) as session:
        found = session.exec(
            select(Position).where(Position.client_order_id == client_order_id)
        ).first()
    if found is None:
        raise NotFound(f"no order has client_order_id {client_order_id!r}")
    return PositionPublic.model_validate(found)


@router.get(
    "/orders/{order_id}",
    response_model=PositionPublic,
    responses={404: {"description": "no such order"}},
    summary="One order (the position it opened)",
    operation_id="getOrder",
)
def get_order(order_id: int, engine: EngineDep) -> PositionPublic:
    """The order with this id: the position it opened, as it is now."""
    return PositionPublic.model_validate(get_position(engine, order_id))
