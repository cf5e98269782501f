"""Orders: place one (`POST /v1/orders`), read one, list them.

An order is its own record: `POST /v1/orders` answers the order (201) with the position it
filled into (`position_id`, and `position` as it is now). A MARKET order fills at once from the
captured quote. `GET /v1/orders?client_order_id=` finds an order by the client's own id (as
Alpaca's `orders:by_client_order_id`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from optrade.domain import OrderStatus
from optrade.security import ApiKeyDep
from order_service.api.deps import (
    IdempotencyKeyDep,
    MarketClockDep,
    MarketDataDep,
    PageDep,
    RepositoryDep,
    SettingsDep,
)
from order_service.application.amending import OrderChange, cancel_order, modify_order
from order_service.application.placing import place_order as place
from order_service.application.reading import OrderView, get_order, list_orders
from order_service.schemas import (
    OrderChangeRequest,
    OrderPage,
    OrderPublic,
    OrderRequest,
    PositionPublic,
)

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


def order_public(view: OrderView) -> OrderPublic:
    """The wire form of an order and its position."""
    position = None if view.position is None else PositionPublic.model_validate(view.position)
    answer = OrderPublic.model_validate(view.order, from_attributes=True)
    answer.position = position
    return answer


@router.post(
    "/orders",
    status_code=201,
    response_model=OrderPublic,
    dependencies=[ApiKeyDep],
    responses=ERRORS,  # type: ignore[arg-type]
    summary="Place an order (a MARKET order fills at once: BUY at the ask, SELL at the bid)",
    operation_id="placeOrder",
)
async def place_order(
    order: OrderRequest,
    response: Response,
    repository: RepositoryDep,
    market_data: MarketDataDep,
    clock: MarketClockDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKeyDep = None,
) -> OrderPublic:
    """Place the order and answer it with its position; a repeated key replays the first."""
    outcome = await place(
        repository=repository,
        market_data=market_data,
        order=order,
        idempotency_key=idempotency_key,
        timing=clock.timing(order.as_of),
        square_off_at=settings.square_off_time,
    )
    if outcome.replayed:
        response.headers[REPLAYED_HEADER] = "true"
    if deprecated := order.deprecation():
        response.headers["Deprecation"] = deprecated
    return order_public(OrderView(outcome.order, outcome.position))


@router.get(
    "/orders",
    response_model=OrderPage,
    summary="Orders, newest first, by client_order_id or status",
    operation_id="listOrders",
)
async def orders(
    repository: RepositoryDep,
    page_request: PageDep,
    client_order_id: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    status: Annotated[OrderStatus | None, Query()] = None,
) -> OrderPage:
    """List orders with their positions; `client_order_id` finds the one placed with it."""
    page, views = await list_orders(
        repository, page_request, client_order_id=client_order_id, status=status
    )
    items = [order_public(view) for view in views]
    return OrderPage(items=items, total=page.total, limit=page.limit, offset=page.offset)


@router.get(
    "/orders/{order_id}",
    response_model=OrderPublic,
    responses={404: {"description": "no such order"}},
    summary="One order, with the position it opened or closed",
    operation_id="getOrder",
)
async def order(order_id: int, repository: RepositoryDep) -> OrderPublic:
    """The order with this id and its position as it is now."""
    return order_public(await get_order(repository, order_id))


@router.post(
    "/orders/{order_id}/cancel",
    response_model=OrderPublic,
    dependencies=[ApiKeyDep],
    responses={
        401: {"description": "missing or wrong API key"},
        404: {"description": "no such order"},
        409: {"description": "the order is no longer open or trigger_pending"},
    },
    summary="Cancel an order that waits for the market",
    operation_id="cancelOrder",
)
async def cancel(order_id: int, repository: RepositoryDep) -> OrderPublic:
    """Cancel an `open` or `trigger_pending` order."""
    cancelled = await cancel_order(repository, order_id)
    return order_public(OrderView(cancelled, None))


@router.patch(
    "/orders/{order_id}",
    response_model=OrderPublic,
    dependencies=[ApiKeyDep],
    responses={
        401: {"description": "missing or wrong API key"},
        404: {"description": "no such order"},
        409: {"description": "the order is no longer open or trigger_pending"},
        422: {"description": "a field the order type does not take, or off the tick"},
    },
    summary="Modify the price, trigger_price or lots of an order that waits for the market",
    operation_id="modifyOrder",
)
async def modify(
    order_id: int, change: OrderChangeRequest, repository: RepositoryDep
) -> OrderPublic:
    """Change a pending order; it is evaluated with its new terms from the next observation."""
    changed = await modify_order(
        repository, order_id, OrderChange(change.price, change.trigger_price, change.lots)
    )
    return order_public(OrderView(changed, None))
