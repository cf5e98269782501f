"""Exits of a multi-leg strategy, on its mark-to-market P&L (docs/matching.md).

The strategy's P&L marks every open leg at the mid of its bid and ask (the LTP where a side is
empty, the one side quoted where there is no LTP either). On each observation of the chain:
`stop_loss_pnl` fires when the P&L is at or below it, `target_pnl` when at or above it, `exit_at`
at the first observation at or after it, MIS square-off at the first one at or after 15:15 IST;
in that order, so the stop wins and square-off closes what the others left. All legs close on
that same observation with one exit_reason, each at the price the matching rules give a MARKET on
its closing side (a stop is an SL-M); an observation on which any leg has nothing to fill at is
skipped for the whole strategy.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from optrade.domain import Side
from optrade.domain.vocabulary import ExitReason
from optrade.errors import InvalidInput
from order_service.domain.matching import Observation, Rejection, market_fill
from order_service.fills import PAISA, Fill


@dataclass(frozen=True)
class StrategyLeg:
    contract: Hashable  # the leg's key in a chain observation, e.g. (expiry, strike, "CE")
    side: Side
    entry_price: Decimal
    units: int  # lots x lot size


@dataclass(frozen=True)
class StrategyExits:
    stop_loss_pnl: Decimal | None = None  # rupees, e.g. -3000
    target_pnl: Decimal | None = None  # rupees, e.g. 2000
    exit_at: datetime | None = None


@dataclass(frozen=True)
class StrategyExit:
    reason: ExitReason
    fills: tuple[Fill, ...]  # one per leg, in the order of the legs
    pnl: Decimal  # the mark-to-market P&L on the observation that closed it


def check_strategy_exits(exits: StrategyExits) -> StrategyExits:
    """The exits, or InvalidInput naming the field: the stop below the target."""
    stop, target = exits.stop_loss_pnl, exits.target_pnl
    if stop is not None and target is not None and stop >= target:
        raise InvalidInput("stop_loss_pnl", f"{stop} must be below target_pnl {target}")
    return exits


def leg_mark(observation: Observation) -> Decimal | None:
    """The mid; the LTP where a side is empty; the one quoted side where there is no LTP."""
    return observation.mark or observation.bid or observation.ask


def strategy_pnl(
    legs: Sequence[StrategyLeg], quotes: Mapping[Hashable, Observation]
) -> Decimal | None:
    """Rupees: the sum over legs of (mark - entry) x units x side sign; None if one is unmarked."""
    total = Decimal(0)
    for leg in legs:
        observation = quotes.get(leg.contract)
        mark = leg_mark(observation) if observation is not None else None
        if mark is None:
            return None
        total += (mark - leg.entry_price) * leg.units * leg.side.sign
    return total


def _closing_fills(
    legs: Sequence[StrategyLeg], quotes: Mapping[Hashable, Observation]
) -> tuple[Fill, ...] | None:
    fills = []
    for leg in legs:
        observation = quotes.get(leg.contract)
        fill = market_fill(leg.side.closing, observation) if observation is not None else None
        if fill is None:
            return None
        fills.append(fill)
    return tuple(fills)


def _reason(
    pnl: Decimal, exits: StrategyExits, instant: datetime, square_off_at: datetime | None
) -> ExitReason | None:
    if exits.stop_loss_pnl is not None and pnl <= exits.stop_loss_pnl:
        return ExitReason.STOP_LOSS
    if exits.target_pnl is not None and pnl >= exits.target_pnl:
        return ExitReason.TARGET
    if exits.exit_at is not None and instant >= exits.exit_at:
        return ExitReason.TIME_EXIT
    if square_off_at is not None and instant >= square_off_at:
        return ExitReason.SQUARE_OFF
    return None


def evaluate_strategy_exits(
    legs: Sequence[StrategyLeg],
    exits: StrategyExits,
    quotes: Mapping[Hashable, Observation],
    *,
    instant: datetime,
    square_off_at: datetime | None = None,
    on_arrival: bool = False,
) -> StrategyExit | Rejection | None:
    """The exit one chain observation (`quotes` by contract, at `instant`) fires, if any.

    On the observation the exits were set on (`on_arrival`) a stop already reached or an
    `exit_at` already past is refused; a target already reached closes on arrival."""
    fills = _closing_fills(legs, quotes)
    pnl = strategy_pnl(legs, quotes)
    if fills is None or pnl is None:
        return None  # skipped: all legs close on one observation or none does
    if on_arrival:
        refused = _refused_on_arrival(pnl, exits, instant)
        if refused is not None:
            return refused
        square_off_at = None  # evaluated from the next observation on
        exits = StrategyExits(target_pnl=exits.target_pnl)
    reason = _reason(pnl, exits, instant, square_off_at)
    return StrategyExit(reason, fills, pnl.quantize(PAISA)) if reason else None


def _refused_on_arrival(pnl: Decimal, exits: StrategyExits, instant: datetime) -> Rejection | None:
    if exits.stop_loss_pnl is not None and pnl <= exits.stop_loss_pnl:
        return Rejection(
            "stop_loss_pnl",
            f"the strategy's P&L at the mids is already {pnl.quantize(PAISA)}, at or below "
            f"the stop {exits.stop_loss_pnl}",
        )
    if exits.exit_at is not None and exits.exit_at <= instant:
        return Rejection("exit_at", f"must be after the observation it is set on ({instant})")
    return None
