"""Fills, ticks, P&L and snapshots as plain functions."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from optrade.clients.market_data import CapturedQuote
from optrade.db.models import SNAPSHOT_FIELDS
from optrade.domain import Side, utcnow
from optrade.errors import InvalidInput
from optrade.schemas.market import OptionQuote
from order_service.fills import (
    ClientPriceBounds,
    Unfillable,
    check_client_price,
    client_fill,
    closing_action,
    pnl,
    quote_fill,
    to_tick,
)
from order_service.snapshots import captured_snapshot, missing_snapshot
from tests.support.orders_fakes import EXPIRY, MARKET_AT, full_quote

PARAMS = {"expiry": EXPIRY.isoformat(), "strike": "26100", "option_type": "PE",
          "as_of": MARKET_AT.isoformat()}  # fmt: skip


def quote(**overrides: Any) -> OptionQuote:
    return OptionQuote.model_validate(full_quote(PARAMS, "NIFTY", **overrides))


@pytest.mark.parametrize(
    ("raw", "ticked"),
    [(38.5, "38.50"), (38.52, "38.50"), (38.525, "38.55"), (0.024, "0.00"), (69.2, "69.20")],
)
def test_prices_round_to_the_005_tick(raw: float, ticked: str) -> None:
    assert to_tick(raw) == Decimal(ticked)


def test_buy_fills_at_the_ask_and_sell_at_the_bid_recording_the_spread() -> None:
    q = quote(bid=38.4, ask=38.5)
    buy, sell = quote_fill(q, Side.BUY), quote_fill(q, Side.SELL)
    assert (buy.price, buy.source, buy.spread) == (Decimal("38.50"), "ask", Decimal("0.10"))
    assert (sell.price, sell.source, sell.spread) == (Decimal("38.40"), "bid", Decimal("0.10"))


@pytest.mark.parametrize("empty", [None, 0.0])
def test_an_empty_side_fills_at_the_last_price(empty: float | None) -> None:
    buy = quote(ask=empty, ltp=12.35)
    assert (quote_fill(buy, Side.BUY).price, quote_fill(buy, Side.BUY).source) == (
        Decimal("12.35"),
        "ltp",
    )
    assert quote_fill(buy, Side.BUY).spread is None
    sell = quote(bid=empty, ltp=12.35)
    assert quote_fill(sell, Side.SELL).source == "ltp"


def test_no_price_at_all_is_unfillable() -> None:
    with pytest.raises(Unfillable):
        quote_fill(quote(ask=None, ltp=None), Side.BUY)


def test_client_price_keeps_the_quote_spread() -> None:
    fill = client_fill(Decimal("40.05"), quote(bid=38.4, ask=38.5))
    assert (fill.price, fill.source, fill.spread) == (Decimal("40.05"), "client", Decimal("0.10"))
    assert client_fill(Decimal("40.05"), None).spread is None


def test_pnl_is_rupees_signed_by_side() -> None:
    # The README's worked example: buy 1 lot of 26100 PE at 38.50, sell at 69.20, lot 75.
    args = {"entry": Decimal("38.50"), "exit_": Decimal("69.20"), "lots": 1, "lot_size": 75}
    assert pnl(side="BUY", **args) == Decimal("2302.50")
    assert pnl(side="SELL", **args) == Decimal("-2302.50")
    assert pnl(side="BUY", **{**args, "lots": 3}) == Decimal("6907.50")
    assert closing_action("BUY") == Side.SELL and closing_action("SELL") == Side.BUY


def test_a_captured_snapshot_fills_every_snapshot_column() -> None:
    captured = CapturedQuote(quote(), "fallback", utcnow(), ("primary: timeout",))
    snapshot = captured_snapshot("exit_", captured)
    assert set(snapshot) == {"exit_" + name for name in SNAPSHOT_FIELDS}
    assert [k for k, v in snapshot.items() if v is None] == []
    assert snapshot["exit_source"] == "fallback"
    assert snapshot["exit_market_at"] == MARKET_AT
    assert snapshot["exit_error"] == "skipped primary: timeout"
    assert snapshot["exit_bid"] == Decimal("100.00") and isinstance(snapshot["exit_volume"], int)


def test_greeks_error_is_recorded_with_the_snapshot() -> None:
    captured = CapturedQuote(
        quote(iv=None, delta=None, greeks_error="price below intrinsic"), "primary", utcnow()
    )
    snapshot = captured_snapshot("entry_", captured)
    assert (
        snapshot["entry_iv"] is None and snapshot["entry_error"] == "greeks: price below intrinsic"
    )


def test_a_missing_snapshot_says_why_and_for_which_instant() -> None:
    at = datetime.fromisoformat("2025-12-02T09:43:29+00:00")
    snapshot = missing_snapshot("exit_", "no provider", market_at=at)
    assert snapshot["exit_source"] == "missing" and snapshot["exit_error"] == "no provider"
    assert snapshot["exit_market_at"] == at and snapshot["exit_delta"] is None


BOUNDS = ClientPriceBounds(ticks=2, percent=Decimal("1"), max_entry_multiple=Decimal("10"))


@pytest.mark.parametrize(
    ("closing", "price", "accepted"),
    [
        # bid 13.20, ask 13.40: tolerance max(2 ticks, 1% of 13.30 = 0.13 -> 0.15) = 0.15
        (Side.SELL, "13.60", False),  # beyond the ask: +₹ on a zero-second round trip
        (Side.SELL, "13.45", False),  # the tolerance does not widen the favourable side
        (Side.SELL, "13.40", True),  # at the ask
        (Side.SELL, "13.05", True),  # bid - tolerance: the unfavourable side
        (Side.SELL, "13.00", False),
        (Side.BUY, "13.15", False),  # buying back below the bid
        (Side.BUY, "13.20", True),
        (Side.BUY, "13.55", True),  # ask + tolerance
        (Side.BUY, "13.60", False),
    ],
)
def test_a_client_exit_price_is_never_better_than_the_far_side(
    closing: Side, price: str, accepted: bool
) -> None:
    captured = quote(bid=13.20, ask=13.40, ltp=13.30)
    if accepted:
        check_client_price(Decimal(price), captured, Decimal("12.00"), BOUNDS, closing=closing)
        return
    with pytest.raises(InvalidInput) as refused:
        check_client_price(Decimal(price), captured, Decimal("12.00"), BOUNDS, closing=closing)
    assert refused.value.extra["errors"][0]["field"] == "exit_price"
