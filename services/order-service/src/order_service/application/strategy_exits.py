"""A strategy's legs leave together: on the engine's exits (`stop_loss_pnl`, `target_pnl`,
`exit_at`, MIS square-off; `order_service.domain.strategy_exits`) or on the client's close, every
open leg closes on one observation of the chain, each through the one close path (`close_lots`)
with its exit snapshot captured from that observation, and the strategy is closed with one
`exit_reason`.

A leg's close key is the one an exit of its position would use (`exit <position id>`), so the
engine and a client, or two engines, never close a leg twice; a leg closed by then (a client's
close of that position, a settlement) is simply not closed again.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from optrade.clients.market_data import (
    CapturedChain,
    CapturedQuote,
    MarketDataClient,
    QuoteRejected,
)
from optrade.domain import ExitReason, OrderType, PositionStatus, Side, TradeMode
from optrade.errors import Conflict
from order_service.application.closing import EXIT_KEY_PREFIX, CloseKeys, ExitFill, close_lots
from order_service.application.placing import observation_of
from order_service.application.strategies import StrategyView, fetch_chain
from order_service.domain.matching import Observation, market_fill
from order_service.domain.strategy_exits import (
    StrategyExit,
    StrategyExits,
    StrategyLeg,
    evaluate_strategy_exits,
)
from order_service.fills import Fill
from order_service.market_hours import MarketClock
from order_service.records import PositionRecord, StrategyRecord
from order_service.repository import KeyTaken, Repository
from order_service.snapshots import captured_snapshot

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LegQuote:
    """An open leg and its quote on the observation."""

    position: PositionRecord
    quote: CapturedQuote


def _open_legs(positions: Sequence[PositionRecord]) -> list[PositionRecord]:
    return [p for p in positions if p.status == PositionStatus.OPEN and p.quantity_open > 0]


def _leg_key(position: PositionRecord) -> Hashable:
    return (Decimal(position.strike), str(position.option_type))


def _domain_leg(position: PositionRecord) -> StrategyLeg:
    units = position.quantity_open * position.lot_size
    return StrategyLeg(_leg_key(position), Side(position.side), position.entry_price, units)


async def close_legs(
    repository: Repository,
    strategy: StrategyRecord,
    legs: Sequence[LegQuote],
    fills: Sequence[Fill],
    exit_: ExitFill,
) -> list[dict[str, object]]:
    """Close every leg at its fill, all from one observation; then the strategy."""
    closed: list[dict[str, object]] = []
    for leg, fill in zip(legs, fills, strict=True):
        position = leg.position
        try:
            outcome = await close_lots(
                repository, position=position, lots=None, exit_=replace(exit_, fill=fill),
                exit_snapshot=captured_snapshot("exit_", leg.quote),
                keys=CloseKeys(f"{EXIT_KEY_PREFIX}{position.id}"),
            )  # fmt: skip
        except (Conflict, KeyTaken):  # closed meanwhile by a client, or another engine
            continue
        closed.append(
            {"position_id": position.id, "trade_id": outcome.trade.id,
             "strategy_id": strategy.id, "exit_reason": exit_.exit_reason.value,
             "exit_price": str(outcome.trade.exit_price)}
        )  # fmt: skip
    async with repository.unit_of_work() as work:
        await work.close_strategy(
            strategy.id, {"exit_reason": exit_.exit_reason.value, "closed_at": exit_.closed_at}
        )
    return closed


def _quoted(captured: CapturedChain, positions: Sequence[PositionRecord]) -> list[LegQuote] | None:
    """Each open leg's quote on this observation; None when one is not on it."""
    legs = []
    for position in positions:
        try:
            legs.append(LegQuote(position, captured.quote(position.strike, position.option_type)))
        except QuoteRejected:
            return None
    return legs


def _order_type(reason: ExitReason) -> OrderType:
    """The closing order of each leg: a stop is an SL-M, every other exit a MARKET."""
    return OrderType.SL_M if reason == ExitReason.STOP_LOSS else OrderType.MARKET


async def evaluate_strategies(
    repository: Repository, captured: CapturedChain, mode: TradeMode
) -> list[dict[str, object]]:
    """Evaluate the exits of every watched open strategy of this chain's (underlying, expiry)
    on this observation: all its legs close on it, or none does. Answers the legs closed."""
    chain = captured.chain
    instant = chain.as_of
    untouched: list[int] = []
    closed: list[dict[str, object]] = []
    for strategy in await repository.watched_strategies(
        mode.value, (chain.underlying, chain.expiry)
    ):
        if strategy.exits_evaluated_at is not None and strategy.exits_evaluated_at >= instant:
            continue
        positions, _ = await repository.strategy_legs(strategy.id)
        open_legs = _open_legs(positions)
        if not open_legs:  # every leg closed by the client or settled: nothing left to exit
            async with repository.unit_of_work() as work:
                await work.close_strategy(strategy.id, {"closed_at": instant})
            continue
        legs = _quoted(captured, open_legs)
        exit_ = None if legs is None else _strategy_exit(strategy, legs, instant)
        if legs is None or exit_ is None:
            untouched.append(strategy.id)
            continue
        how = ExitFill(exit_.fills[0], exit_.reason, instant, instant, mode, off_hours=False,
                       order_type=_order_type(exit_.reason))  # fmt: skip
        closed += await close_legs(repository, strategy, legs, exit_.fills, how)
    async with repository.unit_of_work() as work:
        await work.mark_strategies_evaluated(untouched, instant)
    return closed


def _strategy_exit(
    strategy: StrategyRecord, legs: Sequence[LegQuote], instant: datetime
) -> StrategyExit | None:
    exits = StrategyExits(strategy.stop_loss_pnl, strategy.target_pnl, strategy.exit_at)
    quotes: dict[Hashable, Observation] = {
        _leg_key(leg.position): observation_of(leg.quote.quote) for leg in legs
    }
    result = evaluate_strategy_exits(
        [_domain_leg(leg.position) for leg in legs], exits, quotes, instant=instant,
        square_off_at=strategy.square_off_at,
    )  # fmt: skip
    return result if isinstance(result, StrategyExit) else None


async def close_strategy(
    *,
    repository: Repository,
    market_data: MarketDataClient,
    strategy_id: int,
    clock: MarketClock,
    as_of: datetime | None,
    reason: str | None,
) -> StrategyView:
    """Close every open leg of the strategy from one observation (the client's close).

    A strategy closed by the client already is answered as it is (a retry); one closed by an
    exit or a settlement is a 409."""
    strategy = await repository.strategy(strategy_id)
    positions, trades = await repository.strategy_legs(strategy_id)
    if strategy.status != PositionStatus.OPEN:
        if strategy.exit_reason == ExitReason.CLIENT.value:
            return StrategyView(strategy, positions, trades, replayed=True)
        raise Conflict(f"strategy {strategy_id} is already closed ({strategy.exit_reason})")
    timing = clock.timing(as_of)
    open_legs = _open_legs(positions)
    captured = await fetch_chain(market_data, strategy.underlying, strategy.expiry, timing.instant)
    legs = _quoted(captured, open_legs)
    fills = None if legs is None else _market_fills(legs)
    if legs is None or fills is None:
        raise Conflict(
            f"a leg of strategy {strategy_id} has no price to close at on the "
            f"{captured.chain.as_of.isoformat()} observation; nothing closed, retry later"
        )
    exit_ = ExitFill(fills[0], ExitReason.CLIENT, timing.recorded_at, timing.instant,
                     timing.mode, timing.off_hours, reason, OrderType.MARKET)  # fmt: skip
    await close_legs(repository, strategy, legs, fills, exit_)
    closed = await repository.strategy(strategy_id)
    positions, trades = await repository.strategy_legs(strategy_id)
    return StrategyView(closed, positions, trades)


def _market_fills(legs: Sequence[LegQuote]) -> list[Fill] | None:
    """Each leg's MARKET fill on its closing side; None when one has nothing to fill at."""
    fills = []
    for leg in legs:
        observation = observation_of(leg.quote.quote)
        fill = market_fill(Side(leg.position.side).closing, observation)
        if fill is None:
            return None
        fills.append(fill)
    return fills
