"""Strategy exits on the mark-to-market P&L at the mids: every leg closes on one observation."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from optrade.domain import Side
from optrade.domain.vocabulary import ExitReason
from optrade.errors import InvalidInput
from order_service.domain.matching import Observation, Rejection
from order_service.domain.strategy_exits import (
    StrategyExit,
    StrategyExits,
    StrategyLeg,
    check_strategy_exits,
    evaluate_strategy_exits,
    strategy_pnl,
)
from tests.order_service.domain.support import at, obs

# A short straddle: SELL the 26100 CE at 100 and the 26100 PE at 90, one lot of 75 each.
STRADDLE = (
    StrategyLeg("CE", Side.SELL, Decimal("100"), 75),
    StrategyLeg("PE", Side.SELL, Decimal("90"), 75),
)
EXITS = StrategyExits(stop_loss_pnl=Decimal("-3000"), target_pnl=Decimal("2000"))


def chain(ce: tuple[str, str], pe: tuple[str, str], minute: int = 0) -> dict[str, Observation]:
    when = at(11, minute)
    return {"CE": obs(None, *ce, when=when), "PE": obs(None, *pe, when=when)}


def evaluate(
    quotes: dict[str, Observation],
    *,
    square_off_at: datetime | None = None,
    on_arrival: bool = False,
) -> StrategyExit | Rejection | None:
    instant = next(iter(quotes.values())).instant
    return evaluate_strategy_exits(
        STRADDLE, EXITS, quotes, instant=instant, square_off_at=square_off_at, on_arrival=on_arrival
    )


def test_pnl_marks_each_leg_at_its_mid() -> None:
    # CE mid 110.50: -10.50 x 75; PE mid 95.50: -5.50 x 75; -16 x 75 = -1200.
    assert strategy_pnl(STRADDLE, chain(("110", "111"), ("95", "96"))) == Decimal("-1200")


def test_a_leg_without_both_sides_is_marked_at_its_ltp() -> None:
    quotes = {"CE": obs("112", "110", None), "PE": obs("95.5", "95", "96")}
    # CE -12 x 75 = -900; PE -5.50 x 75 = -412.50.
    assert strategy_pnl(STRADDLE, quotes) == Decimal("-1312.5")


def test_stop_loss_pnl_closes_every_leg_at_the_ask_on_the_first_observation_at_or_below() -> None:
    assert evaluate(chain(("130", "131"), ("96", "97"))) is None  # -2775
    result = evaluate(chain(("134", "135"), ("96.5", "97.5")))  # -2587.50 - 525 = -3112.50
    assert isinstance(result, StrategyExit)
    assert (result.reason, result.pnl) == (ExitReason.STOP_LOSS, Decimal("-3112.50"))
    assert [fill.price for fill in result.fills] == [Decimal("135"), Decimal("97.5")]


def test_target_pnl_closes_every_leg_when_reached() -> None:
    assert evaluate(chain(("79.5", "80.5"), ("83", "84"))) is None  # 1500 + 487.50
    result = evaluate(chain(("79", "80"), ("83", "84")))  # 1537.50 + 487.50 = 2025
    assert isinstance(result, StrategyExit)
    assert (result.reason, result.pnl) == (ExitReason.TARGET, Decimal("2025.00"))
    assert [fill.price for fill in result.fills] == [Decimal("80"), Decimal("84")]


def test_square_off_closes_what_the_pnl_exits_left() -> None:
    quiet = {"CE": obs(None, "101", "102", at(15, 16)), "PE": obs(None, "90", "91", at(15, 16))}
    result = evaluate(quiet, square_off_at=at(15, 15))
    assert isinstance(result, StrategyExit) and result.reason == ExitReason.SQUARE_OFF
    losing = {"CE": obs(None, "140", "141", at(15, 16)), "PE": obs(None, "90", "91", at(15, 16))}
    result = evaluate(losing, square_off_at=at(15, 15))
    assert isinstance(result, StrategyExit) and result.reason == ExitReason.STOP_LOSS


def test_a_leg_with_nothing_to_fill_at_skips_the_observation_for_all_legs() -> None:
    quotes = {"CE": obs(None, "134", None), "PE": obs(None, "96.5", "97.5")}  # CE: no ask, no LTP
    assert evaluate(quotes) is None
    assert evaluate({"PE": obs(None, "96.5", "97.5")}) is None


def test_a_stop_already_reached_when_set_is_refused() -> None:
    result = evaluate(chain(("134", "135"), ("96.5", "97.5")), on_arrival=True)
    assert isinstance(result, Rejection) and result.field == "stop_loss_pnl"


def test_strategy_exits_wait_for_the_next_observation_except_a_reached_target() -> None:
    late = {"CE": obs(None, "101", "102", at(15, 16)), "PE": obs(None, "90", "91", at(15, 16))}
    assert evaluate(late, square_off_at=at(15, 15), on_arrival=True) is None
    reached = evaluate(chain(("79", "80"), ("83", "84")), on_arrival=True)
    assert isinstance(reached, StrategyExit) and reached.reason == ExitReason.TARGET


def test_a_stop_at_or_above_the_target_is_refused() -> None:
    with pytest.raises(InvalidInput) as error:
        check_strategy_exits(StrategyExits(stop_loss_pnl=Decimal("500"), target_pnl=Decimal("500")))
    assert error.value.extra["errors"][0]["field"] == "stop_loss_pnl"
