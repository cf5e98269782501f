"""The order state machine and the terms an order may carry (docs/matching.md).

An order is born `open` (MARKET, LIMIT) or `trigger_pending` (SL, SL-M); on arrival it may be
`rejected`, filled (`complete`), or `expired` (an IOC not filled on arrival). While it is `open` or
`trigger_pending` it may be modified or cancelled; a triggered SL becomes `open` (a resting LIMIT
at its `price`); `complete`, `cancelled`, `rejected` and `expired` are final. Every status change
goes through `transition`, so an order can never fill twice or come back from a final state.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from decimal import Decimal

from optrade.calendar import is_trading_day, next_trading_day
from optrade.domain import IST, MARKET_CLOSE, Side
from optrade.domain.vocabulary import OrderStatus, OrderType, Product, Validity
from optrade.errors import Conflict, InvalidInput
from order_service.fills import TICK

PENDING = frozenset({OrderStatus.OPEN, OrderStatus.TRIGGER_PENDING})
FINAL = frozenset(
    {OrderStatus.COMPLETE, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED}
)
# `rejected` is reached only on arrival, from the status the order was born with.
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.OPEN: FINAL,
    OrderStatus.TRIGGER_PENDING: FINAL | {OrderStatus.OPEN},
    **{status: frozenset() for status in FINAL},
}
# An order is modifiable and cancellable exactly while it waits for the market.
MODIFIABLE = PENDING
CANCELLABLE = PENDING
STOPS = frozenset({OrderType.SL, OrderType.SL_M})
TAKES_PRICE = frozenset({OrderType.LIMIT, OrderType.SL})


class OrderNotPending(Conflict):
    """The order has already filled, or was cancelled, rejected or expired."""


@dataclass(frozen=True)
class OrderTerms:
    """What the client asked for, in Kite's words; prices in rupees on the 0.05 tick."""

    side: Side
    order_type: OrderType
    price: Decimal | None = None  # LIMIT, SL
    trigger_price: Decimal | None = None  # SL, SL-M
    validity: Validity = Validity.DAY
    product: Product = Product.MIS


@dataclass(frozen=True)
class PendingOrder:
    """An order the engine evaluates: its terms, its status, and when a DAY order expires."""

    terms: OrderTerms
    status: OrderStatus
    expires_at: datetime | None = None  # `day_expiry(placed_at)` for DAY orders


def initial_status(terms: OrderTerms) -> OrderStatus:
    """Stops wait for their trigger; every other order waits for its price."""
    return OrderStatus.TRIGGER_PENDING if terms.order_type in STOPS else OrderStatus.OPEN


def transition(current: OrderStatus, new: OrderStatus) -> OrderStatus:
    """`new`, when the state machine allows `current` -> `new`; otherwise OrderNotPending."""
    if new not in TRANSITIONS[current]:
        raise OrderNotPending(f"an order that is {current} cannot become {new}")
    return new


def check_pending(status: OrderStatus, action: str) -> None:
    """Refuse to modify, cancel or evaluate an order that no longer waits for the market."""
    if status not in PENDING:
        raise OrderNotPending(
            f"cannot {action} an order that is {status}: only open or trigger_pending orders can"
        )


def day_expiry(placed_at: datetime) -> datetime:
    """15:30 IST of the session the order belongs to: its own day when placed before the close
    of a trading day, else the close of the next trading day."""
    local = placed_at.astimezone(IST)
    day = local.date()
    if local.time() >= MARKET_CLOSE or not is_trading_day(day, regular_only=True):
        day = next_trading_day(day + timedelta(days=1), regular_only=True)
    return datetime.combine(day, MARKET_CLOSE, tzinfo=IST)


def expiry_of(terms: OrderTerms, placed_at: datetime) -> datetime | None:
    """When the order expires unfilled: DAY at the session close; an IOC never rests."""
    return day_expiry(placed_at) if terms.validity == Validity.DAY else None


def session_time(instant: datetime, at: time) -> datetime:
    """`at` (IST) on the IST day of `instant`."""
    return datetime.combine(instant.astimezone(IST).date(), at, tzinfo=IST)


def _check_price(field: str, value: Decimal | None, order_type: OrderType) -> None:
    if value is None:
        raise InvalidInput(field, f"a {order_type} order needs a {field}")
    if value <= 0 or value % TICK != 0:
        raise InvalidInput(field, f"{value} must be a positive multiple of the {TICK} tick")


def _check_unused(field: str, value: Decimal | None, order_type: OrderType) -> None:
    # Kite and OpenAlgo clients send 0 for the prices an order type does not take.
    if value is not None and value != 0:
        raise InvalidInput(field, f"a {order_type} order takes no {field} (send none or 0)")


def check_terms(terms: OrderTerms) -> OrderTerms:
    """The terms with unused zero prices dropped, or InvalidInput naming the field and reason."""
    kind = terms.order_type
    check = _check_price if kind in TAKES_PRICE else _check_unused
    check("price", terms.price, kind)
    check = _check_price if kind in STOPS else _check_unused
    check("trigger_price", terms.trigger_price, kind)
    if kind in STOPS and terms.validity == Validity.IOC:
        raise InvalidInput("validity", f"a {kind} order waits for its trigger: IOC is not allowed")
    if kind == OrderType.SL:
        _check_stop_limit(terms)
    return replace(
        terms,
        price=terms.price if kind in TAKES_PRICE else None,
        trigger_price=terms.trigger_price if kind in STOPS else None,
    )


def _check_stop_limit(terms: OrderTerms) -> None:
    """As at Kite: an SL BUY triggers at or below its limit, an SL SELL at or above it."""
    assert terms.price is not None and terms.trigger_price is not None
    if terms.side == Side.BUY and terms.trigger_price > terms.price:
        raise InvalidInput(
            "trigger_price",
            f"{terms.trigger_price} must be at or below the price {terms.price} of an SL BUY",
        )
    if terms.side == Side.SELL and terms.trigger_price < terms.price:
        raise InvalidInput(
            "trigger_price",
            f"{terms.trigger_price} must be at or above the price {terms.price} of an SL SELL",
        )


def modified_terms(
    order: PendingOrder, *, price: Decimal | None = None, trigger_price: Decimal | None = None
) -> OrderTerms:
    """The terms after a PATCH of price and/or trigger_price (None keeps the old value).

    A triggered SL is a resting LIMIT: its trigger_price can no longer change. The engine then
    evaluates the modified order as a new arrival (`match(..., on_arrival=True)`)."""
    check_pending(order.status, "modify")
    terms = order.terms
    if price is not None and terms.order_type not in TAKES_PRICE:
        raise InvalidInput("price", f"a {terms.order_type} order takes no price")
    if trigger_price is not None:
        if terms.order_type not in STOPS:
            raise InvalidInput("trigger_price", f"a {terms.order_type} order takes no trigger")
        if order.status == OrderStatus.OPEN:
            raise InvalidInput("trigger_price", "the stop has already triggered")
    changed = replace(
        terms,
        price=price if price is not None else terms.price,
        trigger_price=trigger_price if trigger_price is not None else terms.trigger_price,
    )
    return check_terms(changed)
