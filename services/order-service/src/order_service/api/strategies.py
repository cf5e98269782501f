"""Strategies: open one (`POST /v1/strategies`), read it marked to market, close it."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query, Response

from optrade.instants import Instant
from optrade.security import ApiKeyDep
from optrade.symbols import format_symbol
from order_service.api.deps import (
    IdempotencyKeyDep,
    MarketClockDep,
    MarketDataDep,
    RepositoryDep,
    SettingsDep,
)
from order_service.api.orders import REPLAYED_HEADER
from order_service.application.strategies import StrategyView, open_strategy
from order_service.application.strategy_exits import close_strategy
from order_service.application.strategy_marks import Marks, get_strategy, mark_strategy
from order_service.records import PositionRecord, TradeRecord
from order_service.strategy_schemas import (
    NetGreeks,
    StrategyCloseRequest,
    StrategyLegPublic,
    StrategyPublic,
    StrategyRequest,
)

router = APIRouter(prefix="/v1", tags=["strategies"])

ERRORS = {
    401: {"description": "missing or wrong API key"},
    422: {
        "description": "a leg that cannot be resolved or filled on the observation (named "
        "`legs.<i>.<field>`), a reused key, or `market_closed`; nothing was written"
    },
    503: {"description": "no market-data provider answered; nothing was written"},
}


def _leg(
    position: PositionRecord, offset: str | None, trades: list[TradeRecord], marks: Marks
) -> StrategyLegPublic:
    """One leg; a closed one with its exit (lots-weighted over its trades), an open one marked."""
    mine = [t for t in trades if t.position_id == position.id]
    lots = sum(t.lots for t in mine)
    exit_price = (
        (sum((t.exit_price * t.lots for t in mine), Decimal(0)) / lots).quantize(Decimal("0.01"))
        if lots
        else None
    )
    last = mine[-1] if mine else None
    mark = marks.legs.get(position.id)
    return StrategyLegPublic(
        position_id=position.id, strategy_id=position.strategy_id or 0,
        symbol=format_symbol(position.underlying, position.expiry, position.strike,
                             position.option_type),
        strike=position.strike, option_type=position.option_type, side=position.side,
        lots=position.lots, lot_size=position.lot_size, offset=offset, status=position.status,
        entry_price=position.entry_price, exit_price=exit_price,
        exit_reason=last.exit_reason if last else None,
        exit_market_at=last.exit_market_at if last else None,
        realized_pnl=sum((t.pnl for t in mine), Decimal(0)) if mine else None,
        mark=mark.mark if mark else None,
        unrealized_pnl=mark.unrealized_pnl if mark else None,
    )  # fmt: skip


def strategy_public(view: StrategyView, marks: Marks | None = None) -> StrategyPublic:
    """The wire form of a strategy, its legs and (when marked) its P&L and Greeks."""
    marks = marks or Marks()
    strategy = view.strategy
    # Legs were inserted in the order asked: the i-th position is the i-th leg of the request.
    offsets = [leg.get("offset") for leg in strategy.legs]
    offsets += [None] * (len(view.positions) - len(offsets))
    legs = [
        _leg(position, offset, view.trades, marks)
        for position, offset in zip(view.positions, offsets, strict=False)
    ]
    realized = sum((t.pnl for t in view.trades), Decimal("0.00"))
    unrealized = marks.unrealized_pnl
    return StrategyPublic(
        id=strategy.id, strategy=strategy.name, underlying=strategy.underlying,
        expiry=strategy.expiry, product=strategy.product, mode=strategy.mode,
        account=strategy.account, status=strategy.status, net_premium=strategy.net_premium,
        margin=strategy.margin, stop_loss_pnl=strategy.stop_loss_pnl,
        target_pnl=strategy.target_pnl, exit_at=strategy.exit_at,
        square_off_at=strategy.square_off_at, exit_reason=strategy.exit_reason,
        opened_at=strategy.opened_at, closed_at=strategy.closed_at, legs=legs,
        realized_pnl=realized, unrealized_pnl=unrealized,
        pnl=None if unrealized is None else realized + unrealized,
        greeks=NetGreeks(**marks.greeks), marked_at=marks.at, marks_error=marks.error,
    )  # fmt: skip


@router.post(
    "/strategies",
    status_code=201,
    response_model=StrategyPublic,
    dependencies=[ApiKeyDep],
    responses=ERRORS,  # type: ignore[arg-type]
    summary="Open a strategy of 1–8 legs from one chain observation: every leg fills or none",
    operation_id="openStrategy",
)
async def open_(
    request: StrategyRequest,
    response: Response,
    repository: RepositoryDep,
    market_data: MarketDataDep,
    clock: MarketClockDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKeyDep = None,
) -> StrategyPublic:
    """Open every leg (BUY at the ask, SELL at the bid of one observation) in one transaction;
    a repeated key replays the first."""
    view = await open_strategy(
        repository=repository,
        market_data=market_data,
        request=request,
        idempotency_key=idempotency_key,
        timing=clock.timing(request.as_of),
        square_off_at=settings.square_off_time,
    )
    if view.replayed:
        response.headers[REPLAYED_HEADER] = "true"
    return strategy_public(view)


@router.get(
    "/strategies/{strategy_id}",
    response_model=StrategyPublic,
    responses={404: {"description": "no such strategy"}},
    summary="One strategy: its legs, P&L marked at the mids of one chain, net Greeks",
    operation_id="getStrategy",
)
async def strategy(
    strategy_id: int,
    repository: RepositoryDep,
    market_data: MarketDataDep,
    clock: MarketClockDep,
    as_of: Annotated[Instant | None, Query(description="mark at this instant; default now")] = None,
) -> StrategyPublic:
    """The strategy with its legs; open legs marked at the mids of the chain at now (or as_of)."""
    view = await get_strategy(repository, strategy_id)
    # A read, not a trade: it marks at the instant asked (or now) whether or not the session is
    # open (outside it the chain is the last one); only orders need the session.
    marks = await mark_strategy(market_data, view, clock.instant(as_of))
    return strategy_public(view, marks)


@router.post(
    "/strategies/{strategy_id}/close",
    response_model=StrategyPublic,
    dependencies=[ApiKeyDep],
    responses={
        401: {"description": "missing or wrong API key"},
        404: {"description": "no such strategy"},
        409: {"description": "closed by an exit already, or a leg has no price to close at"},
        503: {"description": "no market-data provider answered; nothing was closed"},
    },
    summary="Close every open leg of a strategy from one chain observation",
    operation_id="closeStrategy",
)
async def close(
    strategy_id: int,
    repository: RepositoryDep,
    market_data: MarketDataDep,
    clock: MarketClockDep,
    response: Response,
    body: StrategyCloseRequest | None = None,
) -> StrategyPublic:
    """Close every open leg at the market (BUY back at the ask, SELL at the bid)."""
    body = body or StrategyCloseRequest()
    view = await close_strategy(
        repository=repository,
        market_data=market_data,
        strategy_id=strategy_id,
        clock=clock,
        as_of=body.as_of,
        reason=body.reason,
    )
    if view.replayed:
        response.headers[REPLAYED_HEADER] = "true"
    return strategy_public(view, Marks(unrealized_pnl=Decimal("0.00")))
