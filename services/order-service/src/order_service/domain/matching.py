"""The matching rules: what one observation does to one pending order (docs/matching.md).

An observation is a quote of the contract at an instant. Orders are evaluated from the observation
after the one they were placed on, except that an order marketable on arrival fills on arrival:
- MARKET: BUY at the ask, SELL at the bid (the LTP where that side is empty).
- LIMIT BUY at L: on arrival with ask <= L it fills at the ask; otherwise it rests and fills at L
  on the first observation with ask <= L. LIMIT SELL mirrors it with the bid.
- SL-M SELL with trigger T triggers on the first observation with LTP <= T and fills at that
  observation's bid: a gap fills at the gapped price, never at T. SL-M BUY: LTP >= T, at the ask.
- SL: on trigger it becomes a LIMIT at `price`, evaluated on that same observation.
- A stop whose trigger is already crossed on arrival is rejected, naming `trigger_price`.
- An observation with no LTP, bid or ask is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from optrade.domain import Side
from optrade.domain.vocabulary import OrderStatus, OrderType, Validity
from optrade.errors import DomainError, InvalidInput
from order_service.domain.orders import PendingOrder, check_pending
from order_service.fills import Fill, Unfillable, to_tick


class PriceSource(StrEnum):
    """Which price of the observation a fill took."""

    ASK = "ask"
    BID = "bid"
    LTP = "ltp"  # the side the order takes was empty
    LIMIT = "limit"  # a resting LIMIT (or target) fills at its own price


def _positive(value: Decimal | None) -> Decimal | None:
    # NSE and the brokers send 0 for an empty side: zero is "no price", as in `fills`.
    return to_tick(value) if value is not None and value > 0 else None


@dataclass(frozen=True)
class Observation:
    """A quote of one contract at an instant; empty (None or non-positive) prices become None."""

    instant: datetime
    ltp: Decimal | None = None
    bid: Decimal | None = None
    ask: Decimal | None = None

    def __post_init__(self) -> None:
        for name in ("ltp", "bid", "ask"):
            object.__setattr__(self, name, _positive(getattr(self, name)))

    @property
    def has_quote(self) -> bool:
        return self.ltp is not None or self.bid is not None or self.ask is not None

    @property
    def spread(self) -> Decimal | None:
        return self.ask - self.bid if self.ask is not None and self.bid is not None else None

    def far_side(self, side: Side) -> tuple[Decimal, PriceSource] | None:
        """What a `side` order takes: BUY the ask, SELL the bid, the LTP where it is empty."""
        taken, source = (
            (self.ask, PriceSource.ASK) if side == Side.BUY else (self.bid, PriceSource.BID)
        )
        if taken is not None:
            return taken, source
        return (self.ltp, PriceSource.LTP) if self.ltp is not None else None

    def trigger_reference(self, side: Side) -> Decimal | None:
        """The price a stop compares with its trigger: the LTP, or the side it would fill at."""
        if self.ltp is not None:
            return self.ltp
        far = self.far_side(side)
        return far[0] if far is not None else None

    @property
    def mark(self) -> Decimal | None:
        """The mid of bid and ask; the LTP where a side is empty (mark-to-market)."""
        if self.bid is not None and self.ask is not None:
            return (self.bid + self.ask) / 2
        return self.ltp


@dataclass(frozen=True)
class Rejection:
    """Why an order (or exit) is refused on arrival: the field to blame and the reason."""

    field: str | None  # None: no price at all to fill a MARKET at
    reason: str

    def error(self) -> DomainError:
        """The 4xx to answer: 422 naming the field, or 409 unfillable."""
        return InvalidInput(self.field, self.reason) if self.field else Unfillable(self.reason)


@dataclass(frozen=True)
class Match:
    """What one observation did to an order: its status after, and the fill when it filled."""

    status: OrderStatus
    fill: Fill | None = None
    triggered: bool = False  # a stop triggered on this observation
    rejection: Rejection | None = None


def fill_at(price: Decimal, source: PriceSource, observation: Observation) -> Fill:
    return Fill(price, source, observation.spread)


def market_fill(side: Side, observation: Observation) -> Fill | None:
    """A MARKET `side` fill: the far side, the LTP where it is empty; None with neither."""
    far = observation.far_side(side)
    return fill_at(*far, observation) if far is not None else None


def limit_fill(
    side: Side, limit: Decimal, observation: Observation, *, on_arrival: bool
) -> Fill | None:
    """A LIMIT `side` at `limit`: marketable on arrival at the far side; resting at its price."""
    far = observation.far_side(side)
    if far is None:
        return None
    price, source = far
    reached = price <= limit if side == Side.BUY else price >= limit
    if not reached:
        return None
    return (
        fill_at(*far, observation) if on_arrival else fill_at(limit, PriceSource.LIMIT, observation)
    )


def stop_crossed(side: Side, trigger: Decimal, observation: Observation) -> bool:
    """A SELL stop triggers at LTP <= trigger, a BUY stop at LTP >= trigger."""
    reference = observation.trigger_reference(side)
    if reference is None:
        return False
    return reference <= trigger if side == Side.SELL else reference >= trigger


def match(order: PendingOrder, observation: Observation, *, on_arrival: bool) -> Match:
    """What `observation` does to a pending `order` (on the observation it arrived on, or later)."""
    check_pending(order.status, "match")
    if order.expires_at is not None and observation.instant >= order.expires_at:
        return Match(OrderStatus.EXPIRED)
    if not observation.has_quote and not on_arrival:
        return Match(order.status)  # skipped: nothing is known of this instant
    result = _match_type(order, observation, on_arrival=on_arrival)
    if order.terms.validity == Validity.IOC and result.fill is None and result.rejection is None:
        return Match(OrderStatus.EXPIRED)  # IOC: filled on arrival or never
    return result


def _match_type(order: PendingOrder, observation: Observation, *, on_arrival: bool) -> Match:
    terms = order.terms
    if terms.order_type == OrderType.MARKET:
        return _match_market(order, observation)
    if terms.order_type == OrderType.LIMIT or order.status == OrderStatus.OPEN:
        assert terms.price is not None  # LIMIT, and a triggered SL resting at its price
        fill = limit_fill(terms.side, terms.price, observation, on_arrival=on_arrival)
        return Match(OrderStatus.COMPLETE, fill) if fill else Match(OrderStatus.OPEN)
    return _match_stop(order, observation, on_arrival=on_arrival)


def _match_market(order: PendingOrder, observation: Observation) -> Match:
    fill = market_fill(order.terms.side, observation)
    if fill is not None:
        return Match(OrderStatus.COMPLETE, fill)
    taken = "ask" if order.terms.side == Side.BUY else "bid"
    reason = (
        f"no {taken} and no last price at {observation.instant.isoformat()}: nothing to fill at"
    )
    return Match(OrderStatus.REJECTED, rejection=Rejection(None, reason))


def _match_stop(order: PendingOrder, observation: Observation, *, on_arrival: bool) -> Match:
    terms = order.terms
    assert terms.trigger_price is not None
    if not stop_crossed(terms.side, terms.trigger_price, observation):
        return Match(OrderStatus.TRIGGER_PENDING)
    if on_arrival:
        reference = observation.trigger_reference(terms.side)
        way = "at or below" if terms.side == Side.SELL else "at or above"
        reason = (
            f"the last price {reference} is already {way} the trigger {terms.trigger_price}: "
            f"a {terms.side} stop must trigger on a later move (send a MARKET or LIMIT order)"
        )
        return Match(OrderStatus.REJECTED, rejection=Rejection("trigger_price", reason))
    if terms.order_type == OrderType.SL_M:
        return Match(OrderStatus.COMPLETE, market_fill(terms.side, observation), triggered=True)
    # SL: a LIMIT entering the book on this observation, so marketable means the far side.
    assert terms.price is not None
    fill = limit_fill(terms.side, terms.price, observation, on_arrival=True)
    if fill is None:
        return Match(OrderStatus.OPEN, triggered=True)
    return Match(OrderStatus.COMPLETE, fill, triggered=True)
