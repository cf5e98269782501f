"""Properties of the matching rules over random order terms and random observation sequences."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from optrade.domain import Side
from optrade.domain.vocabulary import OrderStatus, OrderType, Validity
from order_service.domain.matching import Observation, PriceSource, match
from order_service.domain.orders import (
    FINAL,
    OrderNotPending,
    OrderTerms,
    PendingOrder,
    check_terms,
    initial_status,
    transition,
)
from order_service.fills import Fill
from tests.order_service.domain.support import at

ticks = st.integers(min_value=1, max_value=400).map(lambda n: Decimal(n) * Decimal("0.05"))
maybe_price = st.one_of(st.none(), ticks)
quotes = st.tuples(maybe_price, maybe_price, maybe_price)


@st.composite
def order_terms(draw: st.DrawFn) -> OrderTerms:
    """Valid terms of every order type (an SL triggers on the near side of its limit)."""
    side, kind = draw(st.sampled_from(Side)), draw(st.sampled_from(OrderType))
    low, high = sorted((draw(ticks), draw(ticks)))
    price = {OrderType.LIMIT: low, OrderType.SL: high if side == Side.BUY else low}.get(kind)
    trigger = {OrderType.SL_M: low, OrderType.SL: low if side == Side.BUY else high}.get(kind)
    stop = kind in (OrderType.SL, OrderType.SL_M)
    validity = Validity.DAY if stop else draw(st.sampled_from(Validity))
    return check_terms(OrderTerms(side, kind, price, trigger, validity))


@dataclass(frozen=True)
class Walk:
    fills: list[tuple[int, Fill]]
    statuses: list[OrderStatus]


def walk(terms: OrderTerms, observations: list[Observation]) -> Walk:
    """Place the order on observations[0], then offer it every later observation in turn."""
    order = PendingOrder(terms, initial_status(terms))
    fills: list[tuple[int, Fill]] = []
    statuses = [order.status]
    for index, observation in enumerate(observations):
        if order.status in FINAL:
            with pytest.raises(OrderNotPending):  # a final order is never matched again
                match(order, observation, on_arrival=False)
            continue
        result = match(order, observation, on_arrival=index == 0)
        if result.status != order.status:
            transition(order.status, result.status)  # every change is a legal transition
        if result.fill is not None:
            fills.append((index, result.fill))
        order = replace(order, status=result.status)
        statuses.append(order.status)
    return Walk(fills, statuses)


def observations_of(raw: list[tuple[Decimal | None, ...]]) -> list[Observation]:
    return [Observation(at(10, 0) + timedelta(minutes=i), *q) for i, q in enumerate(raw)]


def marketable(terms: OrderTerms, observation: Observation) -> bool:
    far = observation.far_side(terms.side)
    if terms.order_type == OrderType.MARKET:
        return far is not None
    if terms.order_type != OrderType.LIMIT or far is None or terms.price is None:
        return False
    return far[0] <= terms.price if terms.side == Side.BUY else far[0] >= terms.price


@settings(max_examples=400, deadline=None)
@given(order_terms(), st.lists(quotes, min_size=1, max_size=12))
def test_an_order_fills_at_most_once_and_within_its_limit(
    terms: OrderTerms, raw: list[tuple[Decimal | None, ...]]
) -> None:
    observations = observations_of(raw)
    result = walk(terms, observations)
    assert len(result.fills) <= 1
    for index, fill in result.fills:
        if index == 0:  # on arrival: only a marketable MARKET or LIMIT, at the far side
            assert marketable(terms, observations[0])
            assert fill.source != PriceSource.LIMIT
        if terms.price is not None and terms.order_type in (OrderType.LIMIT, OrderType.SL):
            if terms.side == Side.BUY:
                assert fill.price <= terms.price
            else:
                assert fill.price >= terms.price
    if terms.validity == Validity.IOC:  # filled on arrival, or never
        assert all(index == 0 for index, _ in result.fills)
        assert result.statuses[1] in FINAL


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(Side), ticks, st.lists(quotes, min_size=2, max_size=12))
def test_a_resting_order_never_fills_on_its_arrival_observation(
    side: Side, limit: Decimal, raw: list[tuple[Decimal | None, ...]]
) -> None:
    observations = observations_of(raw)
    terms = OrderTerms(side, OrderType.LIMIT, limit)
    assume(not marketable(terms, observations[0]))
    result = walk(terms, observations)
    assert all(index > 0 for index, _ in result.fills)
    assert all(fill.price == limit for _, fill in result.fills)  # a resting LIMIT fills at L


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(Side), ticks, st.lists(quotes, min_size=1, max_size=12))
def test_a_stop_fills_only_on_an_observation_that_crossed_its_trigger(
    side: Side, trigger: Decimal, raw: list[tuple[Decimal | None, ...]]
) -> None:
    observations = observations_of(raw)
    result = walk(OrderTerms(side, OrderType.SL_M, trigger_price=trigger), observations)
    for index, fill in result.fills:
        assert index > 0  # a stop never fills on arrival: crossed then, it is rejected
        reference = observations[index].trigger_reference(side)
        assert reference is not None
        assert reference <= trigger if side == Side.SELL else reference >= trigger
        assert fill.price == observations[index].far_side(side)[0]  # type: ignore[index]
