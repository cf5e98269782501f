"""Exits the platform executes for a position (docs/matching.md).

A long position closes by selling, a short one by buying; each exit is an order on that side:
- `stop_loss` (a premium): an SL-M, filled at the far side of the triggering observation;
- `target` (a premium): a LIMIT, filled at its price (at the far side when marketable on arrival);
- `trailing_stop` (points): an SL-M whose trigger follows the best LTP since it was set and never
  loosens (a long's best is its highest LTP, a short's its lowest);
- `exit_at` (an instant): a MARKET at the first observation at or after it (`time_exit`);
- MIS square-off: a MARKET at the first observation at or after ORDER_SQUARE_OFF_TIME (15:15 IST)
  of the session the position opened in.
They are one-cancels-the-others: at most one fires on an observation, in the order stop_loss,
trailing_stop, target, exit_at, square-off: the stop wins a tie with a target, and on the square-off
observation stops and targets are evaluated first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal

from optrade.domain import Side
from optrade.domain.vocabulary import ExitReason, Product
from optrade.errors import InvalidInput
from order_service.domain.matching import (
    Observation,
    Rejection,
    limit_fill,
    market_fill,
    stop_crossed,
)
from order_service.domain.orders import session_time
from order_service.fills import TICK, Fill

SQUARE_OFF_TIME = time(15, 15)  # IST; the default of ORDER_SQUARE_OFF_TIME


@dataclass(frozen=True)
class PositionExits:
    """The exits a client attached to a position (any may be None)."""

    stop_loss: Decimal | None = None  # premium
    target: Decimal | None = None  # premium
    trailing_stop: Decimal | None = None  # points below (long) / above (short) the best LTP
    exit_at: datetime | None = None


@dataclass(frozen=True)
class ExitWatch:
    """What the engine keeps of an open position to evaluate its exits."""

    side: Side  # the position's side: BUY is long
    exits: PositionExits
    square_off_at: datetime | None = None  # `square_off_instant(...)` for MIS, None for NRML
    trail_best: Decimal | None = None  # best LTP since the trailing stop was set

    @property
    def trail_level(self) -> Decimal | None:
        """The trailing stop's trigger now: best - points for a long, best + points for a short."""
        points = self.exits.trailing_stop
        if points is None or self.trail_best is None:
            return None
        return self.trail_best - points * self.side.sign


@dataclass(frozen=True)
class Exit:
    reason: ExitReason
    fill: Fill


@dataclass(frozen=True)
class ExitCheck:
    """What one observation did: the exit that fired (if any), the trailing state to keep, or
    (on arrival) why the exits are refused."""

    exit: Exit | None = None
    trail_best: Decimal | None = None
    rejection: Rejection | None = None


def square_off_instant(
    product: Product, opened_at: datetime, at: time = SQUARE_OFF_TIME
) -> datetime | None:
    """MIS: `at` (IST) on the day the position opened; NRML is held to expiry (None)."""
    return session_time(opened_at, at) if product == Product.MIS else None


def _check_premium(field: str, value: Decimal | None) -> None:
    if value is not None and (value <= 0 or value % TICK != 0):
        raise InvalidInput(field, f"{value} must be a positive multiple of the {TICK} tick")


def check_exits(side: Side, exits: PositionExits) -> PositionExits:
    """The exits, or InvalidInput naming the field: prices on the tick, the stop on the losing
    side of the target (below it for a long, above it for a short)."""
    _check_premium("stop_loss", exits.stop_loss)
    _check_premium("target", exits.target)
    _check_premium("trailing_stop", exits.trailing_stop)
    stop, target = exits.stop_loss, exits.target
    if stop is not None and target is not None and (target - stop) * side.sign <= 0:
        where = "below" if side == Side.BUY else "above"
        raise InvalidInput(
            "stop_loss", f"{stop} must be {where} the target {target} of a {side} position"
        )
    return exits


def _updated_best(watch: ExitWatch, observation: Observation) -> Decimal | None:
    """The best LTP so far: the highest for a long, the lowest for a short; it never loosens."""
    ltp = observation.ltp
    if watch.exits.trailing_stop is None or ltp is None:
        return watch.trail_best
    if watch.trail_best is None:
        return ltp
    return max(watch.trail_best, ltp) if watch.side == Side.BUY else min(watch.trail_best, ltp)


def _stops(watch: ExitWatch, observation: Observation) -> list[tuple[ExitReason, Decimal]]:
    closing = watch.side.closing
    stops = [
        (ExitReason.STOP_LOSS, watch.exits.stop_loss),
        (ExitReason.TRAILING_STOP, watch.trail_level),
    ]
    return [
        (reason, level)
        for reason, level in stops
        if level is not None and stop_crossed(closing, level, observation)
    ]


def evaluate_exits(
    watch: ExitWatch, observation: Observation, *, on_arrival: bool = False
) -> ExitCheck:
    """The exit `observation` fires, if any; on the observation the exits were set on
    (`on_arrival`) a crossed stop or a past `exit_at` is refused and only a marketable target
    fills."""
    best = _updated_best(watch, observation)
    if not observation.has_quote:
        return ExitCheck(trail_best=best)  # skipped
    watch = ExitWatch(watch.side, watch.exits, watch.square_off_at, best)
    if on_arrival:
        return _on_arrival(watch, observation)
    closing = watch.side.closing
    crossed = _stops(watch, observation)
    if crossed:
        fill = market_fill(closing, observation)
        assert fill is not None  # a crossed stop had a price to compare, so one to fill at
        return ExitCheck(Exit(crossed[0][0], fill), best)
    if watch.exits.target is not None:
        fill = limit_fill(closing, watch.exits.target, observation, on_arrival=False)
        if fill is not None:
            return ExitCheck(Exit(ExitReason.TARGET, fill), best)
    timed = [
        (ExitReason.TIME_EXIT, watch.exits.exit_at),
        (ExitReason.SQUARE_OFF, watch.square_off_at),
    ]
    for reason, when in timed:
        fill = market_fill(closing, observation)
        if when is not None and observation.instant >= when and fill is not None:
            return ExitCheck(Exit(reason, fill), best)
    return ExitCheck(trail_best=best)


def _on_arrival(watch: ExitWatch, observation: Observation) -> ExitCheck:
    crossed = _stops(watch, observation)
    if crossed:
        reason, level = crossed[0]
        way = "at or below" if watch.side == Side.BUY else "at or above"
        return ExitCheck(
            trail_best=watch.trail_best,
            rejection=Rejection(
                reason.value,
                f"the last price is already {way} the stop {level} of this {watch.side} position",
            ),
        )
    if watch.exits.exit_at is not None and watch.exits.exit_at <= observation.instant:
        return ExitCheck(
            trail_best=watch.trail_best,
            rejection=Rejection(
                "exit_at", f"must be after the observation it is set on ({observation.instant})"
            ),
        )
    if watch.exits.target is not None:
        fill = limit_fill(watch.side.closing, watch.exits.target, observation, on_arrival=True)
        if fill is not None:
            return ExitCheck(Exit(ExitReason.TARGET, fill), watch.trail_best)
    return ExitCheck(trail_best=watch.trail_best)
