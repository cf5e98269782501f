"""Changing what waits for the market: cancel or modify a pending order, set a position's exits.

An order can be cancelled or modified (price, trigger_price, lots) only while it is `open` or
`trigger_pending`: one conditional UPDATE, so a cancel racing the engine's fill leaves exactly one
outcome (the loser gets 409 naming the order's status). A modified order is evaluated from the
next observation on. Exits (`PUT /v1/positions/{id}/exits`) replace the position's exits; they
are checked against the position's quote at the instant they are set (a stop already crossed,
an `exit_at` not after it, or a target already reached is refused, 422 naming it) and evaluated
from the next observation on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal

from optrade.clients.market_data import MarketDataClient
from optrade.domain import OrderStatus, PositionStatus, Side, TradeMode
from optrade.errors import Conflict, InvalidInput
from optrade.symbols import OptionSymbol
from order_service.application.placing import capture_contract, observation_of
from order_service.application.venue import terms_of
from order_service.domain.exits import (
    ExitWatch,
    PositionExits,
    check_exits,
    evaluate_exits,
)
from order_service.domain.orders import check_pending, modified_terms
from order_service.market_hours import MarketClock
from order_service.records import OrderRecord, PositionRecord
from order_service.repository import Repository


async def cancel_order(repository: Repository, order_id: int) -> OrderRecord:
    """Cancel a pending order; 409 naming its status when it no longer waits."""
    found = await repository.order(order_id)
    check_pending(OrderStatus(found.status), "cancel")
    async with repository.unit_of_work() as work:
        cancelled = await work.update_order(order_id, {"status": OrderStatus.CANCELLED})
    if cancelled is None:
        now = await repository.order(order_id)
        raise Conflict(f"order {order_id} is {now.status}: only a pending order can be cancelled")
    return cancelled


@dataclass(frozen=True)
class OrderChange:
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    lots: int | None = None


async def modify_order(repository: Repository, order_id: int, change: OrderChange) -> OrderRecord:
    """Modify a pending order's price, trigger_price or lots (422 naming a field that does not
    fit its type; 409 when it no longer waits)."""
    found = await repository.order(order_id)
    terms = modified_terms(terms_of(found), price=change.price, trigger_price=change.trigger_price)
    values: dict[str, object] = {"price": terms.price, "trigger_price": terms.trigger_price}
    if change.lots is not None:
        values["lots"] = change.lots
    async with repository.unit_of_work() as work:
        changed = await work.update_order(order_id, values)
    if changed is None:
        now = await repository.order(order_id)
        raise Conflict(f"order {order_id} is {now.status}: only a pending order can be modified")
    return changed


async def set_exits(
    repository: Repository,
    market_data: MarketDataClient,
    position_id: int,
    exits: PositionExits,
    clock: MarketClock,
    as_of: datetime | None,
    square_off_at: time,
) -> PositionRecord:
    """Replace the exits of an open position (all None removes them)."""
    position = await repository.position(position_id)
    if position.status != PositionStatus.OPEN:
        raise Conflict(f"position {position_id} is already closed")
    side = Side(position.side)
    exits = check_exits(side, exits)
    instant = _exits_instant(position, clock, as_of)
    contract = OptionSymbol(position.underlying, position.expiry, position.strike,
                            position.option_type)  # fmt: skip
    captured = await capture_contract(market_data, contract, instant)
    arrival = observation_of(captured.quote)
    watch = ExitWatch(side, exits, position.square_off_at, arrival.ltp)
    check = evaluate_exits(watch, arrival, on_arrival=True)
    if check.rejection is not None:
        raise check.rejection.error()
    if check.exit is not None:
        raise InvalidInput("target", f"{exits.target} is already reached at {arrival.instant}")
    values = {
        "stop_loss": exits.stop_loss, "target": exits.target,
        "trailing_stop": exits.trailing_stop, "exit_at": exits.exit_at,
        "trail_best": arrival.ltp if exits.trailing_stop is not None else None,
        "exits_evaluated_at": arrival.instant,
    }  # fmt: skip
    async with repository.unit_of_work() as work:
        changed = await work.update_position(position_id, values)
    if changed is None:
        raise Conflict(f"position {position_id} is already closed")
    return changed


def _exits_instant(
    position: PositionRecord, clock: MarketClock, as_of: datetime | None
) -> datetime:
    """Live positions take exits now; a replay position at `as_of` (default: the last
    observation its exits were evaluated on, where the replay walk stands for it)."""
    if position.mode == TradeMode.REPLAY.value:
        if as_of is None:
            return position.exits_evaluated_at or position.entry_market_at or position.opened_at
        return clock.instant(as_of)
    return clock.timing(as_of).instant
