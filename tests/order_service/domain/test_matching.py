"""The matching rules of docs/matching.md, one test per rule, with prices checked by hand."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from optrade.domain.vocabulary import OrderStatus
from optrade.errors import InvalidInput, http_status
from order_service.domain.matching import Observation, PriceSource, match
from order_service.domain.orders import OrderNotPending, PendingOrder, day_expiry
from order_service.fills import Unfillable
from tests.order_service.domain.support import at, obs, order


def test_market_buy_fills_at_the_ask_and_sell_at_the_bid() -> None:
    quote = obs("100.10", "100.00", "100.20")
    buy = match(order("BUY", "MARKET"), quote, on_arrival=True)
    sell = match(order("SELL", "MARKET"), quote, on_arrival=True)
    assert buy.status == OrderStatus.COMPLETE
    assert (buy.fill.price, buy.fill.source, buy.fill.spread) == (
        Decimal("100.20"),
        PriceSource.ASK,
        Decimal("0.20"),
    )
    assert (sell.fill.price, sell.fill.source) == (Decimal("100.00"), PriceSource.BID)


@pytest.mark.parametrize("empty", [None, "0"])
def test_market_fills_at_the_ltp_where_its_side_is_empty(empty: str | None) -> None:
    result = match(order("BUY", "MARKET"), obs("55.35", "55.00", empty), on_arrival=True)
    assert (result.fill.price, result.fill.source, result.fill.spread) == (
        Decimal("55.35"),
        PriceSource.LTP,
        None,
    )


def test_market_with_nothing_to_fill_at_is_rejected_as_unfillable() -> None:
    result = match(order("BUY", "MARKET"), obs(None, "55.00", None), on_arrival=True)
    assert result.status == OrderStatus.REJECTED and result.fill is None
    assert isinstance(result.rejection.error(), Unfillable)


def test_limit_buy_marketable_on_arrival_fills_at_the_ask() -> None:
    result = match(
        order("BUY", "LIMIT", price="101"), obs("100", "99.9", "100.05"), on_arrival=True
    )
    assert (result.status, result.fill.price, result.fill.source) == (
        OrderStatus.COMPLETE,
        Decimal("100.05"),
        PriceSource.ASK,
    )


def test_limit_buy_rests_and_fills_at_its_price() -> None:
    limit = order("BUY", "LIMIT", price="95")
    arrival = match(limit, obs("100", "99.9", "100.05"), on_arrival=True)
    assert (arrival.status, arrival.fill) == (OrderStatus.OPEN, None)
    still = match(limit, obs("95.05", "95.00", "95.10", at(10, 1)), on_arrival=False)
    assert (still.status, still.fill) == (OrderStatus.OPEN, None)
    # The ask gaps to 93.40, below L: a resting order fills at its own price, 95.
    filled = match(limit, obs("93.3", "93.2", "93.4", at(10, 2)), on_arrival=False)
    assert (filled.status, filled.fill.price, filled.fill.source) == (
        OrderStatus.COMPLETE,
        Decimal("95"),
        PriceSource.LIMIT,
    )


def test_limit_buy_fills_when_the_ask_touches_its_price() -> None:
    limit = order("BUY", "LIMIT", price="95")
    result = match(limit, obs("95.2", "94.9", "95.00"), on_arrival=False)
    assert result.fill.price == Decimal("95")


def test_limit_sell_mirrors_with_the_bid() -> None:
    limit = order("SELL", "LIMIT", price="110")
    assert match(limit, obs("100", "99.9", "100.05"), on_arrival=True).status == OrderStatus.OPEN
    assert match(limit, obs("110", "109.95", "110.1"), on_arrival=False).fill is None
    result = match(limit, obs("112", "111.5", "112.1"), on_arrival=False)
    assert (result.fill.price, result.fill.source) == (Decimal("110"), PriceSource.LIMIT)
    on_arrival = match(limit, obs("112", "111.5", "112.1"), on_arrival=True)
    assert (on_arrival.fill.price, on_arrival.fill.source) == (Decimal("111.5"), PriceSource.BID)


def test_limit_buy_with_no_ask_compares_the_ltp() -> None:
    limit = order("BUY", "LIMIT", price="95")
    assert match(limit, obs("94.5", "94", None), on_arrival=False).fill.price == Decimal("95")
    assert match(limit, obs("95.5", "94", None), on_arrival=False).fill is None


def test_sl_m_sell_triggers_on_ltp_and_fills_at_the_bid() -> None:
    stop = order("SELL", "SL-M", trigger="80")
    assert stop.status == OrderStatus.TRIGGER_PENDING
    assert match(stop, obs("80.05", "79.9", "80.1"), on_arrival=False).fill is None
    result = match(stop, obs("80", "79.85", "80.05"), on_arrival=False)
    assert (result.status, result.triggered) == (OrderStatus.COMPLETE, True)
    assert (result.fill.price, result.fill.source) == (Decimal("79.85"), PriceSource.BID)


def test_sl_m_sell_fills_at_the_gapped_bid_never_at_the_trigger() -> None:
    stop = order("SELL", "SL-M", trigger="80")
    result = match(stop, obs("61.5", "61.2", "61.8"), on_arrival=False)
    assert result.fill.price == Decimal("61.2")


def test_sl_m_buy_triggers_at_or_above_and_fills_at_the_ask() -> None:
    stop = order("BUY", "SL-M", trigger="120")
    assert match(stop, obs("119.95", "119.9", "120.1"), on_arrival=False).fill is None
    result = match(stop, obs("131", "130.8", "131.25"), on_arrival=False)
    assert (result.fill.price, result.fill.source) == (Decimal("131.25"), PriceSource.ASK)


def test_sl_m_sell_with_no_bid_fills_at_the_ltp() -> None:
    result = match(order("SELL", "SL-M", trigger="80"), obs("78", None, "79"), on_arrival=False)
    assert (result.fill.price, result.fill.source) == (Decimal("78"), PriceSource.LTP)


def test_a_stop_with_no_ltp_compares_the_side_it_fills_at() -> None:
    stop = order("SELL", "SL-M", trigger="80")
    assert match(stop, obs(None, "80.05", "80.3"), on_arrival=False).fill is None
    assert match(stop, obs(None, "79.95", "80.3"), on_arrival=False).fill.price == Decimal("79.95")


@pytest.mark.parametrize(
    ("side", "trigger", "quote"),
    [("SELL", "80", ("80", "79.9", "80.1")), ("BUY", "120", ("120.5", "120.4", "120.6"))],
)
def test_stop_crossed_on_arrival_is_rejected_naming_trigger_price(
    side: str, trigger: str, quote: tuple[str, str, str]
) -> None:
    for kind, price in (("SL-M", None), ("SL", trigger)):
        result = match(
            order(side, kind, price=price, trigger=trigger), obs(*quote), on_arrival=True
        )
        assert (result.status, result.fill) == (OrderStatus.REJECTED, None)
        error = result.rejection.error()
        assert isinstance(error, InvalidInput) and http_status(error) == 422
        assert error.extra["errors"][0]["field"] == "trigger_price"


def test_stop_not_crossed_on_arrival_waits_for_its_trigger() -> None:
    result = match(order("SELL", "SL-M", trigger="80"), obs("90", "89.9", "90.1"), on_arrival=True)
    assert (result.status, result.fill, result.rejection) == (
        OrderStatus.TRIGGER_PENDING,
        None,
        None,
    )


def test_stop_limit_triggered_and_marketable_fills_at_the_bid_on_that_observation() -> None:
    stop = order("SELL", "SL", price="78", trigger="80")
    result = match(stop, obs("79.5", "79.4", "79.6"), on_arrival=False)
    assert (result.status, result.triggered) == (OrderStatus.COMPLETE, True)
    assert (result.fill.price, result.fill.source) == (Decimal("79.4"), PriceSource.BID)


def test_stop_limit_triggered_but_not_marketable_rests_as_limit() -> None:
    stop = order("SELL", "SL", price="78", trigger="80")
    triggered = match(stop, obs("75", "74.8", "75.2"), on_arrival=False)
    assert (triggered.status, triggered.triggered, triggered.fill) == (OrderStatus.OPEN, True, None)
    resting = replace(stop, status=triggered.status)
    assert match(resting, obs("77.9", "77.85", "78.0"), on_arrival=False).fill is None
    filled = match(resting, obs("79", "78.9", "79.1"), on_arrival=False)
    assert (filled.fill.price, filled.fill.source) == (Decimal("78"), PriceSource.LIMIT)


def test_stop_limit_buy_mirrors_it() -> None:
    stop = order("BUY", "SL", price="122", trigger="120")
    assert match(stop, obs("121", "120.9", "121.1"), on_arrival=False).fill.price == Decimal(
        "121.1"
    )
    gapped = match(stop, obs("125", "124.9", "125.1"), on_arrival=False)
    assert (gapped.status, gapped.triggered, gapped.fill) == (OrderStatus.OPEN, True, None)


def test_observation_without_a_quote_is_skipped() -> None:
    for pending in (
        order("BUY", "LIMIT", price="95"),
        order("SELL", "SL-M", trigger="80"),
        order("BUY", "MARKET"),
    ):
        result = match(pending, obs(None, "0", None), on_arrival=False)
        assert (result.status, result.fill) == (pending.status, None)


def test_ioc_fills_on_arrival_or_expires() -> None:
    ioc = order("BUY", "LIMIT", price="101", validity="IOC")
    assert match(ioc, obs("100", "99.9", "100.05"), on_arrival=True).fill.price == Decimal("100.05")
    missed = match(ioc, obs("102", "101.9", "102.05"), on_arrival=True)
    assert (missed.status, missed.fill) == (OrderStatus.EXPIRED, None)
    no_quote = match(ioc, obs(None, None, None), on_arrival=True)
    assert no_quote.status == OrderStatus.EXPIRED
    # A MARKET with nothing to fill at is refused whatever its validity.
    market = match(order("BUY", "MARKET", validity="IOC"), obs(None, None, None), on_arrival=True)
    assert market.status == OrderStatus.REJECTED


def test_day_order_expires_at_1530_ist_unfilled() -> None:
    limit = order("BUY", "LIMIT", price="95")
    resting = PendingOrder(limit.terms, limit.status, expires_at=day_expiry(at(10, 0)))
    assert resting.expires_at == at(15, 30)
    before = match(resting, obs("96", "95.9", "96.1", at(15, 29, 59)), on_arrival=False)
    assert before.status == OrderStatus.OPEN
    # At 15:30 the order has expired, even though the closing quote would fill it.
    closing = match(resting, obs("90", "89.9", "90.1", at(15, 30)), on_arrival=False)
    assert (closing.status, closing.fill) == (OrderStatus.EXPIRED, None)


def test_a_filled_order_is_never_matched_again() -> None:
    filled = replace(order("BUY", "LIMIT", price="95"), status=OrderStatus.COMPLETE)
    with pytest.raises(OrderNotPending):
        match(filled, obs("90", "89.9", "90.1"), on_arrival=False)


def test_zero_prices_are_empty_sides() -> None:
    quote = Observation(at(10, 0), Decimal(0), Decimal(0), Decimal("12.3"))
    assert (quote.ltp, quote.bid, quote.ask, quote.has_quote) == (None, None, Decimal("12.3"), True)
