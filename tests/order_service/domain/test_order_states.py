"""The order state machine and the terms an order may carry."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from optrade.domain import IST, Side
from optrade.domain.vocabulary import OrderStatus, OrderType, Validity
from optrade.errors import InvalidInput, http_status
from order_service.domain.orders import (
    CANCELLABLE,
    FINAL,
    MODIFIABLE,
    OrderNotPending,
    OrderTerms,
    PendingOrder,
    check_terms,
    day_expiry,
    initial_status,
    modified_terms,
    transition,
)


def terms(order_type: str, side: str = "BUY", **values: str) -> OrderTerms:
    prices = {name: Decimal(v) for name, v in values.items() if name != "validity"}
    validity = Validity(values.get("validity", "DAY"))
    return OrderTerms(Side(side), OrderType(order_type), validity=validity, **prices)


def field_of(error: pytest.ExceptionInfo[InvalidInput]) -> str:
    return str(error.value.extra["errors"][0]["field"])


def test_stops_start_trigger_pending_and_the_rest_open() -> None:
    assert initial_status(terms("SL-M", trigger_price="80")) == OrderStatus.TRIGGER_PENDING
    assert (
        initial_status(terms("SL", price="81", trigger_price="80")) == OrderStatus.TRIGGER_PENDING
    )
    assert initial_status(terms("LIMIT", price="80")) == OrderStatus.OPEN
    assert initial_status(terms("MARKET")) == OrderStatus.OPEN


def test_only_open_and_trigger_pending_orders_are_modifiable_or_cancellable() -> None:
    assert MODIFIABLE == CANCELLABLE == {OrderStatus.OPEN, OrderStatus.TRIGGER_PENDING}


@pytest.mark.parametrize(
    ("current", "new"),
    [
        ("open", "complete"),
        ("open", "cancelled"),
        ("open", "expired"),
        ("open", "rejected"),
        ("trigger_pending", "rejected"),
        ("trigger_pending", "open"),
        ("trigger_pending", "complete"),
        ("trigger_pending", "cancelled"),
        ("trigger_pending", "expired"),
    ],
)
def test_allowed_transitions(current: str, new: str) -> None:
    assert transition(OrderStatus(current), OrderStatus(new)) == OrderStatus(new)


@pytest.mark.parametrize("final", sorted(FINAL))
@pytest.mark.parametrize("new", list(OrderStatus))
def test_a_final_status_never_changes(final: OrderStatus, new: OrderStatus) -> None:
    with pytest.raises(OrderNotPending):
        transition(final, new)


def test_an_open_order_never_goes_back_to_trigger_pending() -> None:
    with pytest.raises(OrderNotPending):
        transition(OrderStatus.OPEN, OrderStatus.TRIGGER_PENDING)


@pytest.mark.parametrize(
    ("given", "field"),
    [
        (terms("LIMIT"), "price"),
        (terms("LIMIT", price="95.03"), "price"),
        (terms("LIMIT", price="-5"), "price"),
        (terms("SL-M"), "trigger_price"),
        (terms("SL", trigger_price="80"), "price"),
        (terms("MARKET", price="100"), "price"),
        (terms("LIMIT", price="95", trigger_price="90"), "trigger_price"),
        (terms("SL-M", trigger_price="80", validity="IOC"), "validity"),
        # An SL BUY must trigger at or below its limit, an SL SELL at or above it (as at Kite).
        (terms("SL", "BUY", price="100", trigger_price="101"), "trigger_price"),
        (terms("SL", "SELL", price="100", trigger_price="99"), "trigger_price"),
    ],
)
def test_bad_terms_are_refused_naming_the_field(given: OrderTerms, field: str) -> None:
    with pytest.raises(InvalidInput) as error:
        check_terms(given)
    assert field_of(error) == field


def test_zero_prices_an_order_type_does_not_take_are_dropped() -> None:
    # Kite and OpenAlgo clients send price 0 and trigger_price 0 with a MARKET order.
    checked = check_terms(terms("MARKET", price="0", trigger_price="0"))
    assert (checked.price, checked.trigger_price) == (None, None)
    assert check_terms(terms("SL-M", "SELL", price="0", trigger_price="80")).price is None


def test_day_orders_expire_at_the_close_of_their_session() -> None:
    morning = datetime(2025, 12, 2, 9, 40, tzinfo=IST)
    assert day_expiry(morning) == datetime(2025, 12, 2, 15, 30, tzinfo=IST)
    # Placed after the close on Friday 28-Nov-2025: it belongs to Monday's session.
    friday_evening = datetime(2025, 11, 28, 16, 0, tzinfo=IST)
    assert day_expiry(friday_evening) == datetime(2025, 12, 1, 15, 30, tzinfo=IST)


def test_modify_changes_price_and_trigger_of_a_pending_order() -> None:
    stop = PendingOrder(
        terms("SL", "SELL", price="78", trigger_price="80"), OrderStatus.TRIGGER_PENDING
    )
    changed = modified_terms(stop, trigger_price=Decimal("85"), price=Decimal("84"))
    assert (changed.price, changed.trigger_price) == (Decimal("84"), Decimal("85"))
    kept = modified_terms(stop, price=Decimal("79"))
    assert (kept.price, kept.trigger_price) == (Decimal("79"), Decimal("80"))


def test_modify_refuses_a_trigger_on_a_triggered_stop_limit() -> None:
    triggered = PendingOrder(terms("SL", "SELL", price="78", trigger_price="80"), OrderStatus.OPEN)
    with pytest.raises(InvalidInput) as error:
        modified_terms(triggered, trigger_price=Decimal("79"))
    assert field_of(error) == "trigger_price"
    assert modified_terms(triggered, price=Decimal("77")).price == Decimal("77")


def test_modify_refuses_a_price_the_order_type_does_not_take() -> None:
    with pytest.raises(InvalidInput) as error:
        modified_terms(PendingOrder(terms("MARKET"), OrderStatus.OPEN), price=Decimal("10"))
    assert field_of(error) == "price"


@pytest.mark.parametrize("final", sorted(FINAL))
def test_modify_refuses_an_order_that_is_not_pending(final: OrderStatus) -> None:
    with pytest.raises(OrderNotPending) as error:
        modified_terms(PendingOrder(terms("LIMIT", price="95"), final), price=Decimal("96"))
    assert http_status(error.value) == 409
