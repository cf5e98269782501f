"""The one close path: every trade (a client's close, a settlement, an exit the engine triggers)
is written by `close_lots`, in one unit of work.

It takes the lots with one conditional UPDATE (which also moves their share of the entry
charges off the position, into the trade's), writes the trade with its charges (the opening
order's share, the closing order's or, at settlement, the exercise STT of a long in the money),
net P&L and the market time held, and records the closing order when there is one. A trade's
`close_idempotency_key` is unique, so a retried close loses at the insert: the transaction rolls
back (the lots return) and the caller replays the earlier trade.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any

from prometheus_client import Counter

from optrade.calendar import ist_date
from optrade.charges import NoChargeSchedule, round_trip_charges, settlement_charges
from optrade.domain import (
    ExitReason,
    OrderIntent,
    OrderStatus,
    OrderType,
    PositionStatus,
    Side,
    TradeMode,
)
from optrade.errors import Conflict, InvalidInput
from order_service.application.funds import margin_labels, released_entry_charges
from order_service.fills import Fill, pnl
from order_service.market_hours import session_seconds_between
from order_service.records import OrderRecord, PositionRecord, TradeRecord, updated
from order_service.repository import KeyTaken, Repository

SNAPSHOTS = Counter(
    "order_snapshots_total", "Entry/exit snapshots recorded, by source", ["stage", "source"]
)
IDEMPOTENCY_HEADER = "Idempotency-Key"
# The close key of an exit the engine (or a strategy's close) takes: one per position, so a
# position is exited once however many engines race.
EXIT_KEY_PREFIX = "exit "


@dataclass(frozen=True)
class ExitFill:
    """How lots leave a position: at what price, from where, why, and when."""

    fill: Fill
    exit_reason: ExitReason
    closed_at: datetime  # the trade's closed_at
    instant: datetime  # the market instant of the exit
    mode: TradeMode
    off_hours: bool
    reason: str | None = None  # the client's free-text reason (close_reason)
    order_type: OrderType | None = OrderType.MARKET  # the closing order; None: no order (expiry)


@dataclass(frozen=True)
class CloseKeys:
    """The client's key of this close and the fingerprint of its request."""

    idempotency_key: str | None = None
    fingerprint: str | None = None


@dataclass(frozen=True)
class CloseOutcome:
    trade: TradeRecord
    position: PositionRecord  # as it stands after the close
    replayed: bool
    order: OrderRecord | None = None


async def close_lots(
    repository: Repository,
    *,
    position: PositionRecord,
    lots: int | None,
    exit_: ExitFill,
    exit_snapshot: dict[str, Any],
    keys: CloseKeys = CloseKeys(),
) -> CloseOutcome:
    """Close `lots` (None: all that is open) of `position` as one trade, in one unit of work.

    Raises `Conflict` when the lots are no longer open and `KeyTaken` when the close key is
    stored already (a retry: the caller replays the earlier trade).
    """
    if exit_.closed_at < position.opened_at:
        raise InvalidInput(
            "as_of", f"before the position opened ({position.opened_at.isoformat()})"
        )

    @cache
    def columns_of(taken: int) -> dict[str, Any]:
        return _trade_columns(position, taken, exit_, exit_snapshot, keys)

    def released(taken: int) -> Decimal:  # issue 22: the entry charges move into the trade
        return released_entry_charges(position, taken, columns_of(taken)["charges"])

    def closing(taken: int) -> dict[str, Any]:
        columns = columns_of(taken)
        return columns | margin_labels(position, taken, columns["net_pnl"])

    def closing_order(taken: int) -> dict[str, Any]:
        return _closing_order(position, taken, exit_)

    async with repository.unit_of_work() as work:
        taken, changed, trade, order = await work.close_into_trade(
            position, lots, exit_.closed_at, released, closing,
            None if exit_.order_type is None else closing_order,  # an expiry: no closing order
        )  # fmt: skip
    SNAPSHOTS.labels("exit", exit_snapshot.get("exit_source")).inc()
    return CloseOutcome(trade, updated(position, **changed), replayed=False, order=order)


def _trade_columns(
    position: PositionRecord,
    lots: int,
    exit_: ExitFill,
    exit_snapshot: dict[str, Any],
    keys: CloseKeys,
) -> dict[str, Any]:
    entered = position.entry_market_at or position.opened_at
    exited = exit_snapshot.get("exit_market_at") or exit_.instant
    replay = TradeMode.REPLAY in (position.mode, exit_.mode)
    return {
        "exit_price": exit_.fill.price,
        "exit_price_source": exit_.fill.source,
        "exit_spread": exit_.fill.spread,
        **outcome(position, lots, exit_),
        "closed_at": exit_.closed_at,
        "close_reason": exit_.reason,
        "exit_reason": exit_.exit_reason.value,
        "close_idempotency_key": keys.idempotency_key,
        "close_request_fingerprint": keys.fingerprint,
        "mode": (TradeMode.REPLAY if replay else TradeMode.LIVE).value,
        "off_hours": position.off_hours or exit_.off_hours,
        "market_seconds_held": session_seconds_between(entered, exited),
        **exit_snapshot,
    }


def outcome(position: PositionRecord, lots: int, exit_: ExitFill) -> dict[str, Any]:
    """P&L of closing `lots` at the exit price, the charges of the round trip (or of the
    settlement), and net P&L; charges unknown (null, never zero) before the rate table."""
    price = exit_.fill.price
    gross = pnl(
        side=position.side, entry=position.entry_price, exit_=price, lots=lots,
        lot_size=position.lot_size,
    )  # fmt: skip
    side, entry_day = Side(position.side), ist_date(position.entry_market_at or position.opened_at)
    try:
        if exit_.exit_reason is ExitReason.SETTLEMENT:
            charges = settlement_charges(
                side=side, entry_price=position.entry_price, intrinsic=price, lots=lots,
                lots_opened=position.lots, lot_size=position.lot_size, entry_day=entry_day,
                expiry_day=position.expiry,
            )  # fmt: skip
        else:
            charges = round_trip_charges(
                side=side, entry_price=position.entry_price, exit_price=price, lots=lots,
                lots_opened=position.lots, lot_size=position.lot_size, entry_day=entry_day,
                exit_day=ist_date(exit_.instant),
            )  # fmt: skip
    except NoChargeSchedule:
        return {"pnl": gross, "charges": None, "net_pnl": None}
    return {"pnl": gross, "charges": charges, "net_pnl": gross - charges}


def _closing_order(position: PositionRecord, lots: int, exit_: ExitFill) -> dict[str, Any]:
    """The order that closed `lots` of `position` (its `trade_id` is the trade's, set as both
    are inserted)."""
    return {
        "intent": OrderIntent.CLOSE,
        "order_type": exit_.order_type,
        "underlying": position.underlying,
        "expiry": position.expiry,
        "strike": position.strike,
        "option_type": position.option_type,
        "side": Side(position.side).closing,
        "lots": lots,
        "lot_size": position.lot_size,
        "status": OrderStatus.COMPLETE,
        "average_price": exit_.fill.price,
        "filled_at": exit_.closed_at,
        "position_id": position.id,
        "mode": exit_.mode,
        "tag": position.tag,
    }


async def replay_close(
    repository: Repository, position_id: int, keys: CloseKeys
) -> CloseOutcome | None:
    """The close an earlier request with this key recorded, or None; a key used for another
    close is refused naming the header."""
    if keys.idempotency_key is None:
        return None
    earlier = await repository.trade_by_close_key(keys.idempotency_key)
    if earlier is None:
        return None
    if earlier.position_id != position_id or earlier.close_request_fingerprint != keys.fingerprint:
        raise InvalidInput(
            IDEMPOTENCY_HEADER,
            f"{keys.idempotency_key!r} was already used for a different close "
            f"(trade {earlier.id} of position {earlier.position_id})",
        )
    position = await repository.position(position_id)
    return CloseOutcome(earlier, position, replayed=True)


def check_closable(position: PositionRecord, lots: int | None) -> None:
    """Conflict when the position is closed or holds fewer lots than asked."""
    if position.status != PositionStatus.OPEN or position.quantity_open == 0:
        raise Conflict(f"position {position.id} is already closed")
    if lots is not None and lots > position.quantity_open:
        raise Conflict(
            f"quantity: {lots} lots asked, position {position.id} has {position.quantity_open} open"
        )


__all__ = ["CloseOutcome", "ExitFill", "KeyTaken", "close_lots", "replay_close"]
