"""Exits attached to a position: stop-loss, target, trailing stop, exit_at and MIS square-off."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from optrade.domain import Side
from optrade.domain.vocabulary import ExitReason, Product
from optrade.errors import InvalidInput
from order_service.domain.exits import (
    ExitWatch,
    PositionExits,
    check_exits,
    evaluate_exits,
    square_off_instant,
)
from order_service.domain.matching import Observation, PriceSource
from tests.order_service.domain.support import at, d, obs

LONG_EXITS = PositionExits(stop_loss=Decimal("80"), target=Decimal("120"))


def long_watch(**exits: str) -> ExitWatch:
    values = {name: d(value) for name, value in exits.items()}
    return ExitWatch(Side.BUY, PositionExits(**values))


def short_watch(**exits: str) -> ExitWatch:
    values = {name: d(value) for name, value in exits.items()}
    return ExitWatch(Side.SELL, PositionExits(**values))


def walk(watch: ExitWatch, quotes: list[Observation]) -> tuple[int, ExitReason, Decimal] | None:
    """The first observation (index) that closes the position, its reason and price."""
    for index, quote in enumerate(quotes):
        check = evaluate_exits(watch, quote)
        if check.exit is not None:
            return index, check.exit.reason, check.exit.fill.price
        watch = replace(watch, trail_best=check.trail_best)
    return None


def test_stop_loss_of_a_long_is_an_sl_m_sell_at_the_bid() -> None:
    check = evaluate_exits(ExitWatch(Side.BUY, LONG_EXITS), obs("79.9", "79.6", "80.1"))
    assert check.exit.reason == ExitReason.STOP_LOSS
    assert (check.exit.fill.price, check.exit.fill.source) == (Decimal("79.6"), PriceSource.BID)


def test_stop_loss_gap_fills_at_the_gapped_bid() -> None:
    check = evaluate_exits(ExitWatch(Side.BUY, LONG_EXITS), obs("52", "51.5", "52.5"))
    assert check.exit.fill.price == Decimal("51.5")


def test_target_of_a_long_is_a_limit_sell_filled_at_its_price() -> None:
    watch = ExitWatch(Side.BUY, LONG_EXITS)
    assert evaluate_exits(watch, obs("120.5", "119.95", "120.6")).exit is None
    check = evaluate_exits(watch, obs("125", "124.5", "125.5"))
    assert (check.exit.reason, check.exit.fill.price, check.exit.fill.source) == (
        ExitReason.TARGET,
        Decimal("120"),
        PriceSource.LIMIT,
    )


def test_stop_wins_a_tie_with_the_target() -> None:
    # A stale LTP below the stop while the bid is above the target: both fire, the stop wins.
    check = evaluate_exits(ExitWatch(Side.BUY, LONG_EXITS), obs("79", "121", "122"))
    assert (check.exit.reason, check.exit.fill.price) == (ExitReason.STOP_LOSS, Decimal("121"))


def test_short_position_stop_and_target_mirror_at_the_ask() -> None:
    watch = short_watch(stop_loss="120", target="80")
    stop = evaluate_exits(watch, obs("121", "120.8", "121.2")).exit
    assert (stop.reason, stop.fill.price, stop.fill.source) == (
        ExitReason.STOP_LOSS,
        Decimal("121.2"),
        PriceSource.ASK,
    )
    target = evaluate_exits(watch, obs("79", "78.8", "79.2")).exit
    assert (target.reason, target.fill.price) == (ExitReason.TARGET, Decimal("80"))


def test_trailing_stop_follows_the_best_ltp_and_never_loosens() -> None:
    watch = replace(long_watch(trailing_stop="10"), trail_best=Decimal("100"))
    quotes = [
        obs("104", "103.9", "104.1", at(10, 1)),  # best 104, stop 94
        obs("110", "109.9", "110.1", at(10, 2)),  # best 110, stop 100
        obs("103", "102.9", "103.1", at(10, 3)),  # best stays 110, stop stays 100
        obs("100.05", "100", "100.1", at(10, 4)),  # above the stop
        obs("99.5", "99.3", "99.6", at(10, 5)),  # fires: fills at the bid 99.30
    ]
    assert walk(watch, quotes) == (4, ExitReason.TRAILING_STOP, Decimal("99.3"))
    best_after = evaluate_exits(watch, quotes[1]).trail_best
    assert best_after == Decimal("110")


def test_trailing_stop_of_a_short_follows_the_lowest_ltp() -> None:
    watch = replace(short_watch(trailing_stop="5"), trail_best=Decimal("50"))
    quotes = [
        obs("45", "44.9", "45.1", at(10, 1)),  # best 45, stop 50
        obs("49.95", "49.9", "50"),  # below the stop
        obs("50", "49.95", "50.05"),  # fires: LTP >= 50, fills at the ask 50.05
    ]
    assert walk(watch, quotes) == (2, ExitReason.TRAILING_STOP, Decimal("50.05"))


def test_exit_at_is_a_market_at_the_first_observation_at_or_after_it() -> None:
    watch = ExitWatch(Side.BUY, PositionExits(exit_at=at(11, 0)))
    quotes = [
        obs("100", "99.9", "100.1", at(10, 59, 59)),
        obs("101", "100.9", "101.1", at(11, 0, 30)),
    ]
    assert walk(watch, quotes) == (1, ExitReason.TIME_EXIT, Decimal("100.9"))


def test_mis_squares_off_at_the_first_observation_from_1515_at_the_bid() -> None:
    assert square_off_instant(Product.MIS, at(9, 34, 45)) == at(15, 15)
    assert square_off_instant(Product.NRML, at(9, 34, 45)) is None
    watch = ExitWatch(Side.BUY, LONG_EXITS, square_off_at=at(15, 15))
    quotes = [obs("100", "99.9", "100.1", at(15, 13, 29)), obs("101", "100.9", "101.1", at(15, 30))]
    assert walk(watch, quotes) == (1, ExitReason.SQUARE_OFF, Decimal("100.9"))


def test_on_the_square_off_observation_stops_and_targets_come_first() -> None:
    watch = ExitWatch(Side.BUY, LONG_EXITS, square_off_at=at(15, 15))
    stop = evaluate_exits(watch, obs("75", "74.9", "75.1", at(15, 20))).exit
    assert (stop.reason, stop.fill.price) == (ExitReason.STOP_LOSS, Decimal("74.9"))
    target = evaluate_exits(watch, obs("130", "129.9", "130.1", at(15, 20))).exit
    assert (target.reason, target.fill.price) == (ExitReason.TARGET, Decimal("120"))


def test_an_observation_without_a_quote_is_skipped_by_exits() -> None:
    watch = ExitWatch(Side.BUY, LONG_EXITS, square_off_at=at(15, 15))
    assert evaluate_exits(watch, obs(None, None, None, at(15, 20))).exit is None


def test_a_stop_crossed_when_set_is_refused_naming_it() -> None:
    check = evaluate_exits(
        ExitWatch(Side.BUY, LONG_EXITS), obs("79", "78.9", "79.1"), on_arrival=True
    )
    assert check.exit is None and check.rejection.field == "stop_loss"


def test_a_target_marketable_when_set_fills_at_the_bid() -> None:
    check = evaluate_exits(
        ExitWatch(Side.BUY, LONG_EXITS), obs("125", "124.5", "125.5"), on_arrival=True
    )
    assert (check.exit.reason, check.exit.fill.price, check.exit.fill.source) == (
        ExitReason.TARGET,
        Decimal("124.5"),
        PriceSource.BID,
    )


def test_exits_set_on_an_observation_wait_for_the_next_one() -> None:
    watch = ExitWatch(Side.BUY, LONG_EXITS, square_off_at=at(15, 15))
    check = evaluate_exits(watch, obs("100", "99.9", "100.1", at(15, 20)), on_arrival=True)
    assert (check.exit, check.rejection) == (None, None)


def test_an_exit_at_already_past_when_set_is_refused() -> None:
    watch = ExitWatch(Side.BUY, PositionExits(exit_at=at(10, 0)))
    check = evaluate_exits(watch, obs("100", "99.9", "100.1", at(10, 0)), on_arrival=True)
    assert check.rejection.field == "exit_at"


@pytest.mark.parametrize(
    ("side", "exits", "field"),
    [
        (Side.BUY, PositionExits(stop_loss=Decimal("130"), target=Decimal("120")), "stop_loss"),
        (Side.SELL, PositionExits(stop_loss=Decimal("80"), target=Decimal("120")), "stop_loss"),
        (Side.BUY, PositionExits(target=Decimal("120.02")), "target"),
        (Side.BUY, PositionExits(trailing_stop=Decimal("0")), "trailing_stop"),
    ],
)
def test_bad_exits_are_refused_naming_the_field(
    side: Side, exits: PositionExits, field: str
) -> None:
    with pytest.raises(InvalidInput) as error:
        check_exits(side, exits)
    assert error.value.extra["errors"][0]["field"] == field
