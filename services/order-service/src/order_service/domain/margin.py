"""The SPAN-like margin of option positions on one underlying, and of a basket beside them.

The rules (docs/margins.md gives every parameter its source):

* Reprice the portfolio with Black-76 on each expiry's forward, one calendar day nearer expiry,
  under 16 scenarios: the price moved by 0, ±1/3, ±2/3 and ±1 price scan range (PSR), each with
  the volatility up and down by the volatility scan range (VSR), plus ±2 PSR at unchanged
  volatility, of which 35 % of the loss counts.
* PSR = max(6 σ √2, 9.3 %) of the underlying, σ the EWMA (λ 0.995) of daily log returns when a
  series of daily closes is given, else the 9.3 % floor. VSR = max(25 % of the leg's IV, 4 points).
* SPAN = max(0, worst scenario loss - net option value), net option value = value of the longs -
  value of the shorts (NSE Clearing's definition): a short pays its premium's worth on top of the
  loss, a long's value offsets it, so a hedge lowers the margin on its own and a long alone
  blocks nothing beyond its premium.
* Exposure = 2 % of the notional (spot × units) of each short option, 4 % on its expiry day.

Why one day less: SPAN values the portfolio at the next settlement. On its expiry day a leg has
less than a day left, so its scenario time is floored at zero: it is repriced at its intrinsic
value on the moved forward, which is what it settles at that evening (the volatility scenarios
then move nothing for that leg). Expiry is 15:30 IST of the expiry date.

Positions on the same contract are netted before anything else (a long and a short of the same
strike cancel), as the exchange margins a client's net position.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from optrade.domain import DAYS_PER_YEAR, IST, MARKET_CLOSE, SECONDS_PER_YEAR, OptionType
from optrade.errors import InvalidInput
from order_service.domain.black76 import black76_price

FloatArray = npt.NDArray[np.float64]
PAISA = Decimal("0.01")


@dataclass(frozen=True)
class MarginParameters:
    """The parameters of the scan and of the exposure margin (defaults: NSE index options)."""

    psr_sigmas: float = 6.0  # PSR = 6 σ ...
    psr_horizon_days: float = 2.0  # ... scaled by √2 (two-day margin period of risk)
    psr_floor: float = 0.093  # ... at least 9.3 % of the underlying
    ewma_lambda: float = 0.995
    vsr_fraction: float = 0.25  # VSR = 25 % of the IV ...
    vsr_floor: float = 0.04  # ... at least 4 volatility points
    extreme_multiple: float = 2.0  # the two extreme scenarios move the price 2 PSR ...
    extreme_weight: float = 0.35  # ... and 35 % of their loss counts
    exposure_rate: float = 0.02  # of the notional of each short option
    expiry_day_extra: float = 0.02  # more on a short option on its expiry day
    scan_days: float = 1.0  # the scan values the portfolio this many days nearer expiry


NSE_INDEX_OPTIONS = MarginParameters()


class Scenario(NamedTuple):
    price_move: Fraction  # in price scan ranges
    vol_move: int  # +1 up, -1 down, 0 unchanged
    weight: float  # fraction of the loss that counts

    @property
    def name(self) -> str:
        move = self.price_move
        price = "price 0" if move == 0 else f"price {'+' if move > 0 else '-'}{abs(move)} PSR"
        vol = {1: "vol up", -1: "vol down", 0: "vol unchanged"}[self.vol_move]
        share = "" if self.weight == 1 else f", {self.weight:.0%} of the loss"
        return f"{price}, {vol}{share}"


def scenarios(params: MarginParameters = NSE_INDEX_OPTIONS) -> tuple[Scenario, ...]:
    """The 16 scenarios in SPAN's order: 0, +1/3, -1/3, ..., -1 PSR with vol up/down, then ±2."""
    moves = [Fraction(0)] + [sign * Fraction(k, 3) for k in (1, 2, 3) for sign in (1, -1)]
    scan = [Scenario(m, v, 1.0) for m in moves for v in (1, -1)]
    extreme = Fraction(params.extreme_multiple).limit_denominator(3)
    return (
        *scan,
        Scenario(extreme, 0, params.extreme_weight),
        Scenario(-extreme, 0, params.extreme_weight),
    )


@dataclass(frozen=True)
class OptionLeg:
    """One option position: `units` signed (+ long, - short), `iv` a decimal (0.14 is 14 %),
    `price` the premium per unit it is worth now (the quote's mid or LTP; None: the model's)."""

    expiry: date
    strike: float
    option_type: OptionType
    units: int
    iv: float
    price: float | None = None


@dataclass(frozen=True)
class MarketState:
    """The underlying at the valuation instant: spot, rate (decimal), the forward of each expiry
    (an expiry without one uses spot × e^{rT}), and optionally its daily closes for the EWMA σ."""

    spot: float
    as_of: datetime
    rate: float
    forwards: Mapping[date, float] = field(default_factory=dict)
    daily_closes: Sequence[float] = ()


@dataclass(frozen=True)
class Margin:
    """What a portfolio blocks, in rupees: `margin` = `span` + `exposure`; `premium` its net
    option value, paid positive (a net short's is negative: premium received)."""

    span: Decimal
    exposure: Decimal
    margin: Decimal
    premium: Decimal
    worst_scenario: str
    price_scan_range: float  # points of the underlying


@dataclass(frozen=True)
class MarginCheck:
    """A basket checked beside the open positions, and (when asked) alone."""

    combined: Margin
    basket: Margin | None


class LegArrays(NamedTuple):
    """The netted legs as arrays, one entry per contract."""

    forward: FloatArray
    strike: FloatArray
    t_now: FloatArray
    iv: FloatArray
    is_call: npt.NDArray[np.bool_]
    units: FloatArray
    value: FloatArray  # premium per unit now
    expires_today: npt.NDArray[np.bool_]


def ewma_sigma(daily_closes: Sequence[float], lam: float) -> float | None:
    """Daily σ from the EWMA of the log returns of `daily_closes` (None with fewer than 2).

    σ²_t = λ σ²_{t-1} + (1 - λ) r_t², seeded with the mean of the squared returns: with λ = 0.995
    a single first return would weigh on the estimate for years.
    """
    closes = np.asarray(daily_closes, dtype=np.float64)
    if closes.size < 2:
        return None
    if not np.all(np.isfinite(closes)) or np.any(closes <= 0):
        raise InvalidInput("daily_closes", "every close must be a positive number")
    squared = np.diff(np.log(closes)) ** 2
    n = squared.size
    weights = (1.0 - lam) * lam ** np.arange(n - 1, -1, -1)
    variance = lam**n * float(squared.mean()) + float(weights @ squared)
    return float(np.sqrt(variance))


def price_scan_fraction(
    daily_closes: Sequence[float], params: MarginParameters = NSE_INDEX_OPTIONS
) -> float:
    """PSR as a fraction of the underlying: max(6 σ √2, 9.3 %), the floor without a series."""
    sigma = ewma_sigma(daily_closes, params.ewma_lambda)
    if sigma is None:
        return params.psr_floor
    return max(params.psr_sigmas * sigma * np.sqrt(params.psr_horizon_days), params.psr_floor)


def net_legs(legs: Iterable[OptionLeg]) -> tuple[OptionLeg, ...]:
    """One leg per contract with the summed units (the first leg's IV and price); flat ones go."""
    netted: dict[tuple[date, float, OptionType], OptionLeg] = {}
    for leg in legs:
        key = (leg.expiry, float(leg.strike), leg.option_type)
        held = netted.get(key)
        netted[key] = leg if held is None else _with_units(held, held.units + leg.units)
    return tuple(leg for leg in netted.values() if leg.units != 0)


def _with_units(leg: OptionLeg, units: int) -> OptionLeg:
    return OptionLeg(leg.expiry, leg.strike, leg.option_type, units, leg.iv, leg.price)


def _check(legs: Sequence[OptionLeg], market: MarketState) -> None:
    if market.as_of.tzinfo is None:
        raise InvalidInput("as_of", "must be timezone-aware")
    if not (np.isfinite(market.spot) and market.spot > 0):
        raise InvalidInput("spot", "must be a positive number")
    for i, leg in enumerate(legs):
        if not (np.isfinite(leg.strike) and leg.strike > 0):
            raise InvalidInput(f"legs[{i}].strike", "must be a positive number")
        if not (np.isfinite(leg.iv) and 0 <= leg.iv <= 10):
            raise InvalidInput(f"legs[{i}].iv", "must be a decimal volatility in [0, 10]")
        if leg.price is not None and not (np.isfinite(leg.price) and leg.price >= 0):
            raise InvalidInput(f"legs[{i}].price", "must be a non-negative number")


def leg_arrays(legs: Sequence[OptionLeg], market: MarketState) -> LegArrays:
    """The legs as the arrays the scan works on (forward, time to expiry, value now, ...)."""
    today = market.as_of.astimezone(IST).date()
    t_now = np.array([_years_to_expiry(leg.expiry, market.as_of) for leg in legs], dtype=np.float64)
    forward = np.array(
        [
            market.forwards.get(leg.expiry, market.spot * np.exp(market.rate * t))
            for leg, t in zip(legs, t_now, strict=True)
        ],
        dtype=np.float64,
    )
    strike = np.array([leg.strike for leg in legs], dtype=np.float64)
    iv = np.array([leg.iv for leg in legs], dtype=np.float64)
    is_call = np.array([leg.option_type == OptionType.CE for leg in legs], dtype=bool)
    model = black76_price(forward, strike, t_now, iv, market.rate, is_call)
    quoted = np.array([np.nan if leg.price is None else leg.price for leg in legs])
    return LegArrays(
        forward=forward,
        strike=strike,
        t_now=t_now,
        iv=iv,
        is_call=is_call,
        units=np.array([leg.units for leg in legs], dtype=np.float64),
        value=np.where(np.isnan(quoted), model, quoted),
        expires_today=np.array([leg.expiry == today for leg in legs], dtype=bool),
    )


def _years_to_expiry(expiry: date, as_of: datetime) -> float:
    expires_at = datetime.combine(expiry, MARKET_CLOSE, tzinfo=IST)
    return max((expires_at - as_of).total_seconds(), 0.0) / SECONDS_PER_YEAR


def scenario_losses(
    book: LegArrays, psr: float, rate: float, params: MarginParameters = NSE_INDEX_OPTIONS
) -> FloatArray:
    """The portfolio's loss in rupees under each scenario (weighted), one entry per scenario."""
    table = scenarios(params)
    price_moves = np.array([float(s.price_move) for s in table])[:, None]
    vol_moves = np.array([s.vol_move for s in table], dtype=np.float64)[:, None]
    weights = np.array([s.weight for s in table])
    vsr = np.maximum(params.vsr_fraction * book.iv, params.vsr_floor)
    forward = book.forward * (1.0 + price_moves * psr)
    sigma = np.maximum(book.iv + vol_moves * vsr, 0.0)
    t_scan = np.maximum(book.t_now - params.scan_days / DAYS_PER_YEAR, 0.0)
    repriced = black76_price(forward, book.strike, t_scan, sigma, rate, book.is_call)
    losses: FloatArray = -((repriced - book.value) @ book.units) * weights
    return losses


def _rupees(value: float) -> Decimal:
    return Decimal(repr(float(value))).quantize(PAISA, rounding=ROUND_HALF_UP)


def portfolio_margin(
    legs: Iterable[OptionLeg],
    market: MarketState,
    params: MarginParameters = NSE_INDEX_OPTIONS,
) -> Margin:
    """SPAN + exposure of the option positions `legs` on one underlying (netted per contract)."""
    legs = tuple(legs)
    _check(legs, market)  # before netting, so that a field names the caller's leg
    netted = net_legs(legs)
    psr = price_scan_fraction(market.daily_closes, params)
    if not netted:
        zero = Decimal("0.00")
        return Margin(zero, zero, zero, zero, "no open position", psr * market.spot)
    book = leg_arrays(netted, market)
    losses = scenario_losses(book, psr, market.rate, params)
    worst = int(np.argmax(losses))
    net_option_value = float(book.value @ book.units)
    short_units = np.maximum(-book.units, 0.0)
    rates = params.exposure_rate + np.where(book.expires_today, params.expiry_day_extra, 0.0)
    span = _rupees(max(0.0, float(losses[worst]) - net_option_value))
    exposure = _rupees(market.spot * float(short_units @ rates))
    return Margin(
        span=span,
        exposure=exposure,
        margin=span + exposure,
        premium=_rupees(net_option_value),
        worst_scenario=scenarios(params)[worst].name,
        price_scan_range=psr * market.spot,
    )


def basket_margin(
    open_legs: Iterable[OptionLeg],
    basket: Iterable[OptionLeg],
    market: MarketState,
    params: MarginParameters = NSE_INDEX_OPTIONS,
    *,
    basket_alone: bool = True,
) -> MarginCheck:
    """The margin of a hypothetical `basket` together with the open positions, and alone."""
    basket = tuple(basket)
    _check(basket, market)  # a bad basket leg is named by its place in the basket
    combined = portfolio_margin((*open_legs, *basket), market, params)
    alone = portfolio_margin(basket, market, params) if basket_alone else None
    return MarginCheck(combined=combined, basket=alone)
