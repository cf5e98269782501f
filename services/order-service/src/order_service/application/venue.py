"""The venue at work: one chain observation evaluated against every pending order and watched
position of its (underlying, expiry), by the matching rules of `order_service.domain`
(docs/matching.md).

An observation is a quote of each contract at one instant: each poll of the order engine in live
mode, each recorded snapshot in replay, in time order. Each pending order and watched position is
evaluated once per observation, on the observations after the one it was placed (or set) on
(`evaluated_at`, `exits_evaluated_at`). What fills goes through the one write path: a resting
opening order fills into a new position (its entry snapshot captured from this observation); an
exit closes the position's open lots through `close_lots` with its exit snapshot captured from
this observation. Every fill is guarded by the database: an order fills only while it is
pending (one conditional UPDATE), a position's lots are taken once (the close path's UPDATE) and
an exit's trade key (`exit <position id>`) is unique, so two engines, or an engine racing a
client close, never fill twice or over-close.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any

from optrade.clients.market_data import CapturedChain, CapturedQuote, QuoteRejected
from optrade.domain import ExitReason, OrderStatus, OrderType, Side, TradeMode
from optrade.errors import Conflict, InsufficientFunds
from order_service.application.closing import EXIT_KEY_PREFIX, CloseKeys, ExitFill, close_lots
from order_service.application.marking import mark_from_chain
from order_service.application.placing import (
    Filling,
    filled_order,
    funded,
    observation_of,
    position_values,
)
from order_service.application.strategy_exits import evaluate_strategies
from order_service.domain.exits import ExitWatch, PositionExits, evaluate_exits
from order_service.domain.matching import Match, match
from order_service.domain.orders import OrderTerms, PendingOrder
from order_service.records import OrderRecord, PositionRecord
from order_service.repository import KeyTaken, Repository
from order_service.snapshots import captured_snapshot

log = logging.getLogger(__name__)


@dataclass
class Evaluation:
    """What observations did: orders filled, expired or triggered; positions exited."""

    filled: list[int] = field(default_factory=list)  # order ids
    expired: list[int] = field(default_factory=list)
    triggered: list[int] = field(default_factory=list)
    exits: list[dict[str, object]] = field(default_factory=list)  # position, trade, reason

    def add(self, other: Evaluation) -> None:
        self.filled += other.filled
        self.expired += other.expired
        self.triggered += other.triggered
        self.exits += other.exits


def terms_of(order: OrderRecord) -> PendingOrder:
    terms = OrderTerms(
        Side(order.side), order.order_type, order.price, order.trigger_price, order.validity,
        order.product,
    )  # fmt: skip
    return PendingOrder(terms, OrderStatus(order.status), order.expires_at)


def exits_of(position: PositionRecord) -> ExitWatch:
    exits = PositionExits(position.stop_loss, position.target, position.trailing_stop,
                          position.exit_at)  # fmt: skip
    return ExitWatch(Side(position.side), exits, position.square_off_at, position.trail_best)


async def evaluate_chain(
    repository: Repository, captured: CapturedChain, mode: TradeMode, square_off_at: time
) -> Evaluation:
    """Evaluate one observation (a whole chain at one instant) against the pending orders and
    watched positions of its (underlying, expiry) in `mode`."""
    chain = captured.chain
    instant = chain.as_of
    contract = (chain.underlying, chain.expiry)
    done = Evaluation()
    orders = [
        o
        for o in await repository.pending_orders(mode, contract)
        if _after(o.evaluated_at, instant)
    ]
    positions = [
        p for p in await repository.watched_positions(mode, contract)
        if _after(p.exits_evaluated_at, instant)
    ]  # fmt: skip
    untouched_orders: list[int] = []
    for order in orders:
        quote = _quote(captured, order.strike, order.option_type)
        if quote is None:
            untouched_orders.append(order.id)
            continue
        if not await _evaluate_order(repository, order, quote, mode, square_off_at, done):
            untouched_orders.append(order.id)
    untouched_positions: list[int] = []
    for position in positions:
        quote = _quote(captured, position.strike, position.option_type)
        if quote is None or not await _evaluate_exits(repository, position, quote, done):
            untouched_positions.append(position.id)
    async with repository.unit_of_work() as work:
        await work.mark_evaluated(untouched_orders, [], instant)
        await work.mark_evaluated([], untouched_positions, instant)
    done.exits += await evaluate_strategies(repository, captured, mode)
    if mode == TradeMode.REPLAY:  # live positions are marked by the engine's account keeper
        await mark_from_chain(repository, captured, mode)
    return done


def _after(evaluated_at: datetime | None, instant: datetime) -> bool:
    return evaluated_at is None or evaluated_at < instant


def _quote(captured: CapturedChain, strike: object, option_type: str) -> CapturedQuote | None:
    try:
        return captured.quote(strike, option_type)  # type: ignore[arg-type]
    except QuoteRejected:
        return None  # not on this observation's chain: nothing is known of it here


async def _evaluate_order(
    repository: Repository,
    order: OrderRecord,
    quote: CapturedQuote,
    mode: TradeMode,
    square_off_at: time,
    done: Evaluation,
) -> bool:
    """Match one pending order; True when its status changed (filled, expired, triggered)."""
    observation = observation_of(quote.quote)
    result = match(terms_of(order), observation, on_arrival=False)
    if result.fill is not None:
        if await fill_resting_order(repository, order, result, quote, mode, square_off_at):
            done.filled.append(order.id)
        return True
    if result.status == order.status:
        return False
    async with repository.unit_of_work() as work:
        changed = await work.update_order(
            order.id, {"status": result.status, "evaluated_at": observation.instant}
        )
    if changed is not None:
        (done.expired if result.status == OrderStatus.EXPIRED else done.triggered).append(order.id)
    return True


async def fill_resting_order(
    repository: Repository,
    order: OrderRecord,
    result: Match,
    quote: CapturedQuote,
    mode: TradeMode,
    square_off_at: time,
) -> bool:
    """Fill a resting opening order into a new position, once: False when another engine (or a
    cancel) took it first."""
    assert result.fill is not None
    instant = quote.quote.as_of
    filling = Filling(result.fill, quote, instant, instant, mode, off_hours=False)
    try:
        async with repository.unit_of_work() as work:
            taken = await work.update_order(
                order.id, {"status": OrderStatus.COMPLETE, "evaluated_at": instant}
            )
            if taken is None:
                return False
            values = order.model_dump()
            async with funded(work, repository, values, filling) as funds:
                opened = position_values(values, filling, square_off_at) | funds.columns
                position = funds.opened(await work.add_position(opened))
                await work.update_order(order.id, filled_order(position, filling), pending=False)
    except InsufficientFunds as refused:  # the account cannot carry it now: rejected, as brokers
        async with repository.unit_of_work() as work:
            await work.update_order(
                order.id, {"status": OrderStatus.REJECTED, "rejection_reason": refused.detail,
                           "evaluated_at": instant},
            )  # fmt: skip
        return False
    return True


async def _evaluate_exits(
    repository: Repository, position: PositionRecord, quote: CapturedQuote, done: Evaluation
) -> bool:
    """Evaluate one position's exits; True when it exited or its trailing best moved."""
    observation = observation_of(quote.quote)
    watch = exits_of(position)
    check = evaluate_exits(watch, observation, on_arrival=False)
    if check.exit is None:
        if check.trail_best == position.trail_best:
            return False
        async with repository.unit_of_work() as work:
            await work.update_position(
                position.id,
                {"trail_best": check.trail_best, "exits_evaluated_at": observation.instant},
            )
        return True
    instant = observation.instant
    reason = check.exit.reason
    exit_ = ExitFill(
        fill=check.exit.fill, exit_reason=reason, closed_at=instant, instant=instant,
        mode=TradeMode(position.mode), off_hours=False, order_type=_order_type(reason),
    )  # fmt: skip
    try:
        outcome = await close_lots(
            repository, position=position, lots=None, exit_=exit_,
            exit_snapshot=_exit_snapshot(quote),
            keys=CloseKeys(f"{EXIT_KEY_PREFIX}{position.id}"),
        )  # fmt: skip
    except (Conflict, KeyTaken):  # closed by the client, or by another engine, first
        return True
    done.exits.append(
        {"position_id": position.id, "trade_id": outcome.trade.id,
         "exit_reason": reason.value, "exit_price": str(outcome.trade.exit_price)}
    )  # fmt: skip
    return True


def _order_type(reason: ExitReason) -> OrderType:
    """The closing order an exit is: stops are SL-M, a target a LIMIT, the rest MARKET."""
    return {
        ExitReason.STOP_LOSS: OrderType.SL_M,
        ExitReason.TRAILING_STOP: OrderType.SL_M,
        ExitReason.TARGET: OrderType.LIMIT,
    }.get(reason, OrderType.MARKET)


def _exit_snapshot(quote: CapturedQuote) -> dict[str, Any]:
    return captured_snapshot("exit_", quote)


async def expire_day_orders(repository: Repository, mode: TradeMode, at: datetime) -> list[int]:
    """Expire the DAY orders of `mode` whose session closed (15:30 IST) by `at`."""
    expired = []
    for order in await repository.pending_orders(mode.value):
        if order.expires_at is not None and order.expires_at <= at:
            async with repository.unit_of_work() as work:
                if await work.update_order(order.id, {"status": OrderStatus.EXPIRED}) is not None:
                    expired.append(order.id)
    return expired
