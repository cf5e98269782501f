"""Reads the routes answer: orders with their position, positions, trades, pages of each."""

from __future__ import annotations

from dataclasses import dataclass

from optrade.domain import OrderStatus, TradeWindow
from order_service.records import OrderRecord, PositionRecord, TradeRecord
from order_service.repository import Page, PageRequest, Repository

__all__ = ["OrderView", "Page", "PageRequest"]


@dataclass(frozen=True)
class OrderView:
    """An order and the position it opened or closed (as that position is now)."""

    order: OrderRecord
    position: PositionRecord | None


async def order_view(repository: Repository, order: OrderRecord) -> OrderView:
    position = None
    if order.position_id is not None:
        position = await repository.position(order.position_id)
    return OrderView(order, position)


async def get_order(repository: Repository, order_id: int) -> OrderView:
    """One order with its position; NotFound naming the id."""
    return await order_view(repository, await repository.order(order_id))


async def list_orders(
    repository: Repository,
    page: PageRequest,
    *,
    client_order_id: str | None = None,
    status: OrderStatus | None = None,
) -> tuple[Page[OrderRecord], list[OrderView]]:
    """Orders newest first, each with its position (read in one query for the page)."""
    found = await repository.list_orders(page, client_order_id=client_order_id, status=status)
    ids = [o.position_id for o in found.items if o.position_id is not None]
    positions = await repository.positions_by_id(ids)
    views = [
        OrderView(o, positions.get(o.position_id) if o.position_id is not None else None)
        for o in found.items
    ]
    return found, views


async def get_position(repository: Repository, position_id: int) -> PositionRecord:
    return await repository.position(position_id)


async def get_trade(repository: Repository, trade_id: int) -> TradeRecord:
    return await repository.trade(trade_id)


async def list_positions(
    repository: Repository, window: TradeWindow, page: PageRequest, *, status: str | None = None
) -> Page[PositionRecord]:
    return await repository.list_positions(window, page, status=status)


async def list_trades(
    repository: Repository,
    window: TradeWindow,
    page: PageRequest,
    *,
    position_id: int | None = None,
) -> Page[TradeRecord]:
    return await repository.list_trades(window, page, position_id=position_id)
