"""Trades: the closed quantities, each a training record."""

from __future__ import annotations

from fastapi import APIRouter

from order_service.api.deps import PageDep, RepositoryDep, WindowDep
from order_service.application.reading import get_trade, list_trades
from order_service.schemas import TradePage, TradePublic

router = APIRouter(prefix="/v1/trades", tags=["trades"])


@router.get("", response_model=TradePage, summary="Trades, newest first", operation_id="listTrades")
async def trades(repository: RepositoryDep, window: WindowDep, page_request: PageDep) -> TradePage:
    """List trades closed in [from, to), filtered by underlying and model version."""
    page = await list_trades(repository, window, page_request)
    items = [TradePublic.model_validate(t) for t in page.items]
    return TradePage(items=items, total=page.total, limit=page.limit, offset=page.offset)


@router.get("/{trade_id}", response_model=TradePublic, responses={404: {}}, operation_id="getTrade")
async def trade(trade_id: int, repository: RepositoryDep) -> TradePublic:
    """One trade."""
    return TradePublic.model_validate(await get_trade(repository, trade_id))
