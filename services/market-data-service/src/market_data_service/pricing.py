"""Greeks over a whole chain with one IV per strike, and the batch calculator behind /v1/greeks.

IV convention for a chain:

- A leg's price is the mid of bid and ask when both are present (a two-sided quote is where the
  market is now), else the last traded price (which may be stale): `price_source` says which.
- The forward is implied by the chain near the money: at the strikes nearest the money where both
  legs have a two-sided quote, put-call parity gives F = K + e^{rT} (C - P); the median over the
  `PARITY_STRIKES` most tightly quoted of them is the chain's forward (`forward_source: parity`).
  Without such strikes, or when that forward is more than `FORWARD_TOLERANCE` away from
  spot x e^{(r - q)T}, the latter is used (`model`). Every IV of the chain is solved on this one
  forward (Black-76 on F, discounted at the rate in force at the chain's instant: RBI's 91-day
  T-bill cut-off yield from `optrade.rates`, or `RISK_FREE_RATE`; in spot terms Black-Scholes-Merton
  with the dividend yield the forward implies), so an in-the-money mid is checked against the
  discounted forward, not against S - K.
- A leg's own IV is well-posed when its quote pins it: a two-sided quote whose spread spans at
  most `WELL_POSED_SPREAD` vol points (spread / vega). Such a leg keeps its own IV.
- One IV per strike, from the out-of-the-money side (the call at and above the forward, the put
  below): the OTM leg's own IV, unless only the ITM leg's quote pins an IV or the OTM leg has no
  price or solution: then the ITM leg's own IV (its price through parity on the forward is an OTM
  price). The other leg of the strike takes that IV unless its own is well-posed, so both legs of
  every strike with an IV get Greeks.
- `iv_source` per leg: `own` (its own price), `otm` (an ITM leg given its strike's OTM IV),
  `parity` (an OTM leg given the IV its ITM partner's price implies through parity).
- NSE's own IV (its rate is reportedly 10%) is reported beside ours as `nse_iv` where it exists.
"""

from __future__ import annotations

import json
import math
import statistics
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal, NamedTuple

import numpy as np

from market_data_service import greeks
from market_data_service.providers.base import Chain, Leg, OptionSide
from optrade.calendar import expiry_close
from optrade.domain import SECONDS_PER_YEAR, IvSource
from optrade.rates import rate_at

PriceSource = Literal["mid", "ltp"]
ForwardSource = Literal["parity", "model"]
NO_PRICE = "no price: no two-sided quote and no trade"
EXPIRED = "expired: no time to expiry left (15:30 IST on the expiry date has passed)"
PARITY_STRIKES = 5  # strikes nearest the money whose mids imply the forward
FORWARD_TOLERANCE = 0.05  # an implied forward further than this from the model's is not used
WELL_POSED_SPREAD = 0.25  # vol points a bid-ask may span for its mid to pin an IV (+-1/8 point)

LegKey = tuple[float, OptionSide]


class LegGreeks(NamedTuple):
    """Recomputed IV (percent) and Greeks in wire units; all None with `error` when undefined.

    A NamedTuple, not a frozen dataclass: a chain builds hundreds and a frozen dataclass's
    __init__ costs several times more.
    """

    iv: float | None
    delta: float | None
    gamma: float | None
    theta: float | None
    vega: float | None
    rho: float | None
    price_source: PriceSource | None
    iv_source: IvSource | None
    error: str | None


@dataclass(frozen=True, slots=True)
class ChainGreeks:
    """Every leg's IV and Greeks, with what a record needs to re-price them later."""

    legs: dict[LegKey, LegGreeks]
    t_years: float  # calendar seconds to expiry / (365 x 86400); <= 0 once expired
    rate: float  # continuously compounded, decimal
    forward: float  # index points; the spot once expired
    forward_source: ForwardSource
    dividend_yield: float  # the yield the forward implies (bsm on spot)

    def __getitem__(self, key: LegKey) -> LegGreeks:
        return self.legs[key]


def undefined(reason: str, source: PriceSource | None = None) -> LegGreeks:
    return LegGreeks(None, None, None, None, None, None, source, None, reason)


def time_to_expiry_years(expiry: date, market_time: datetime) -> float:
    """Calendar seconds from `market_time` to 15:30 IST on `expiry`, over 365 days."""
    return (expiry_close(expiry) - market_time).total_seconds() / SECONDS_PER_YEAR


def reference_price(leg: Leg) -> tuple[float | None, PriceSource | None]:
    """The price IV is solved from: mid of a two-sided quote, else the last traded price."""
    if leg.bid is not None and leg.ask is not None and leg.bid > 0 and leg.ask > 0:
        return (leg.bid + leg.ask) / 2, "mid"
    if leg.ltp is not None and leg.ltp > 0:
        return leg.ltp, "ltp"
    return None, None


def _legs(chain: Chain) -> list[tuple[LegKey, Leg]]:
    """Every listed leg of `chain`, keyed by (strike, CE|PE)."""
    legs: list[tuple[LegKey, Leg]] = []
    for row in chain.rows:
        sides: tuple[tuple[OptionSide, Leg | None], ...] = (("CE", row.ce), ("PE", row.pe))
        for side, leg in sides:
            if leg is not None:
                legs.append(((row.strike, side), leg))
    return legs


def implied_forward(
    chain: Chain, rate: float, dividend_yield: float, t_years: float
) -> tuple[float, ForwardSource]:
    """The forward put-call parity implies near the money, else spot carried at r - q.

    Of the `2 x PARITY_STRIKES` strikes nearest the model forward where both legs have a
    two-sided quote, the `PARITY_STRIKES` with the tightest quotes (smallest sum of the two
    spreads, the uncertainty of their parity forward) vote, by median: an illiquid strike's
    stale offer cannot move the forward.
    """
    model = chain.spot * math.exp((rate - dividend_yield) * t_years)
    growth = math.exp(rate * t_years)
    pairs = []
    for row in chain.rows:
        call, put = _two_sided(row.ce), _two_sided(row.pe)
        if call is not None and put is not None:
            spread = call[1] - call[0] + put[1] - put[0]
            parity = row.strike + growth * ((call[0] + call[1]) / 2 - (put[0] + put[1]) / 2)
            pairs.append((abs(row.strike - model), spread, parity))
    nearest = sorted(pairs)[: 2 * PARITY_STRIKES]
    tightest = sorted(nearest, key=lambda pair: pair[1])[:PARITY_STRIKES]
    if not tightest:
        return model, "model"
    forward = statistics.median(parity for _, _, parity in tightest)
    if not abs(forward / model - 1.0) <= FORWARD_TOLERANCE:
        return model, "model"
    return forward, "parity"


def _two_sided(leg: Leg | None) -> tuple[float, float] | None:
    """(bid, ask) of a leg quoted on both sides, else None."""
    if leg is None or leg.bid is None or leg.ask is None or not 0 < leg.bid <= leg.ask:
        return None
    return leg.bid, leg.ask


class _OwnSolve(NamedTuple):
    """A leg's IV from its own price (decimal) and how tightly its quote pins it (vol points)."""

    greeks: LegGreeks
    iv: float
    spread_vol: float  # (ask - bid) / vega; inf without a two-sided quote

    @property
    def well_posed(self) -> bool:
        """The quote pins the IV: its spread spans at most `WELL_POSED_SPREAD` vol points."""
        return self.spread_vol <= WELL_POSED_SPREAD


def _kernel_legs(
    result: greeks.GreeksResult, keys: list[LegKey], sources: list[PriceSource | None],
    iv_source: IvSource,
) -> dict[LegKey, LegGreeks]:  # fmt: skip
    """Kernel output as LegGreeks (iv in percent); undefined items carry the kernel's reason."""
    columns = zip(
        result.iv.tolist(), result.delta.tolist(), result.gamma.tolist(), result.theta.tolist(),
        result.vega.tolist(), result.rho.tolist(), result.error, strict=True,
    )  # fmt: skip
    out = {}
    for key, source, (iv, delta, gamma, theta, vega, rho, error) in zip(
        keys, sources, columns, strict=True
    ):
        out[key] = (
            undefined(error, source)
            if error is not None
            else LegGreeks(iv * 100.0, delta, gamma, theta, vega, rho, source, iv_source, None)
        )
    return out


def _solve_own(
    chain: Chain, legs: list[tuple[LegKey, Leg]], pricing: ChainGreeks
) -> tuple[dict[LegKey, _OwnSolve], dict[LegKey, LegGreeks]]:
    """Each priced leg's IV from its own price (one kernel call); failures with their reason."""
    failed: dict[LegKey, LegGreeks] = {}
    keys: list[LegKey] = []
    prices: list[float] = []
    sources: list[PriceSource | None] = []
    spreads: list[float] = []  # ask - bid of a mid; inf for an LTP
    for key, leg in legs:
        price, source = reference_price(leg)
        if price is None:
            failed[key] = undefined(NO_PRICE)
            continue
        keys.append(key)
        prices.append(price)
        sources.append(source)
        spreads.append(leg.ask - leg.bid if source == "mid" else math.inf)  # type: ignore[operator]
    if not keys:
        return {}, failed
    result = greeks.compute(
        "bsm",
        np.array([key[1] == "CE" for key in keys]),
        chain.spot,
        np.array([key[0] for key in keys]),
        pricing.t_years,
        pricing.rate,
        pricing.dividend_yield,
        price=np.array(prices),
    )
    by_key = _kernel_legs(result, keys, sources, IvSource.OWN)
    with np.errstate(all="ignore"):  # vega 0 or NaN (unsolved): no IV pinned
        spread_vol = np.where(result.vega > 0, np.array(spreads) / result.vega, np.inf)
    solved: dict[LegKey, _OwnSolve] = {}
    for key, iv, pinned in zip(keys, result.iv.tolist(), spread_vol.tolist(), strict=True):
        leg_greeks = by_key[key]
        if leg_greeks.error is not None:
            failed[key] = leg_greeks
        else:
            solved[key] = _OwnSolve(leg_greeks, iv, pinned)
    return solved, failed


def _strike_ivs(
    chain: Chain, forward: float, solved: dict[LegKey, _OwnSolve]
) -> dict[LegKey, tuple[float, IvSource]]:
    """The legs that take their strike's IV instead of their own: (IV decimal, source).

    The strike's IV comes from the OTM leg when its quote pins an IV, or when neither leg's
    does; from the ITM leg (through parity) when only the ITM quote pins it or the OTM leg has
    no solution. A leg whose own quote pins its IV always keeps it.
    """
    borrowed: dict[LegKey, tuple[float, IvSource]] = {}
    for row in chain.rows:
        otm_side: OptionSide = "CE" if row.strike >= forward else "PE"
        itm_side: OptionSide = "PE" if otm_side == "CE" else "CE"
        otm, itm = solved.get((row.strike, otm_side)), solved.get((row.strike, itm_side))
        itm_pinned = itm is not None and itm.well_posed
        if otm is not None and (otm.well_posed or not itm_pinned):
            if row.leg(itm_side) is not None and not itm_pinned:
                borrowed[(row.strike, itm_side)] = (otm.iv, IvSource.OTM)
        elif itm is not None and row.leg(otm_side) is not None:
            borrowed[(row.strike, otm_side)] = (itm.iv, IvSource.PARITY)
    return borrowed


def _price_at(
    chain: Chain, pricing: ChainGreeks, borrowed: dict[LegKey, tuple[float, IvSource]],
    price_sources: dict[LegKey, PriceSource | None],
) -> dict[LegKey, LegGreeks]:  # fmt: skip
    """Greeks of the legs that take their strike's IV, one kernel call per source."""
    out: dict[LegKey, LegGreeks] = {}
    for iv_source in (IvSource.OTM, IvSource.PARITY):
        keys = [key for key, (_, source) in borrowed.items() if source == iv_source]
        if not keys:
            continue
        result = greeks.compute(
            "bsm",
            np.array([key[1] == "CE" for key in keys]),
            chain.spot,
            np.array([key[0] for key in keys]),
            pricing.t_years,
            pricing.rate,
            pricing.dividend_yield,
            iv=np.array([borrowed[key][0] for key in keys]),
        )
        sources = [price_sources.get(key) for key in keys]
        out |= _kernel_legs(result, keys, sources, iv_source)
    return out


def chain_greeks(chain: Chain, *, rate: float, dividend_yield: float) -> ChainGreeks:
    """IV per strike from the out-of-the-money side and Greeks for every leg of `chain`."""
    legs = _legs(chain)
    t_years = time_to_expiry_years(chain.expiry, chain.as_of)
    if t_years <= 0:
        expired = {key: undefined(EXPIRED) for key, _ in legs}
        return ChainGreeks(expired, t_years, rate, chain.spot, "model", dividend_yield)
    forward, forward_source = implied_forward(chain, rate, dividend_yield, t_years)
    carry = rate - math.log(forward / chain.spot) / t_years
    pricing = ChainGreeks({}, t_years, rate, forward, forward_source, carry)
    solved, failed = _solve_own(chain, legs, pricing)
    borrowed = _strike_ivs(chain, forward, solved)
    price_sources = {key: reference_price(leg)[1] for key, leg in legs}
    lent = _price_at(chain, pricing, borrowed, price_sources)
    out: dict[LegKey, LegGreeks] = {}
    for key, _ in legs:
        own = solved.get(key)
        out[key] = lent.get(key) or (own.greeks if own is not None else failed[key])
    return ChainGreeks(out, t_years, rate, forward, forward_source, carry)


class ChainPricer:
    """`chain_greeks` at the service's rate and dividend yield, remembered for recent chains.

    The rate is the one in force at the chain's instant (`optrade.rates.rate_at`: RBI's 91-day
    T-bill cut-off yield), unless a fixed `rate` is given (`RISK_FREE_RATE`); either way the
    rate used is the chain's own `ChainGreeks.rate`, stored with every snapshot.

    Quotes of one option after another from the same chain (every capture of an order in the
    same market minute) solve the chain's IVs once. An entry is used only for the very Chain
    object it was computed from (providers hand out the same object for the same instant from
    their own caches), so a different chain under the same key is never answered from the cache.
    """

    def __init__(self, *, rate: float | None, dividend_yield: float, size: int = 128) -> None:
        self.fixed_rate = rate
        self.dividend_yield = dividend_yield
        self._size = size
        self._entries: OrderedDict[tuple[str, date, datetime], tuple[Chain, ChainGreeks]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    def rate_at(self, instant: datetime) -> float:
        """The rate the chain at `instant` is priced at: fixed, else from the dated table."""
        return self.fixed_rate if self.fixed_rate is not None else rate_at(instant)

    def greeks(self, chain: Chain) -> ChainGreeks:
        key = (chain.underlying, chain.expiry, chain.as_of)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] is chain:
                self._entries.move_to_end(key)
                return entry[1]
        priced = chain_greeks(
            chain, rate=self.rate_at(chain.as_of), dividend_yield=self.dividend_yield
        )
        with self._lock:
            self._entries[key] = (chain, priced)
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return priced


@dataclass(frozen=True, slots=True)
class GreeksQuery:
    """Columns of a batch, built in one pass over the validated items (iv as a decimal)."""

    is_call: np.ndarray
    spot: np.ndarray
    strike: np.ndarray
    t_years: np.ndarray
    rate: np.ndarray
    dividend_yield: np.ndarray
    iv: np.ndarray  # NaN where the item gives a price
    price: np.ndarray  # NaN where the item gives an iv

    def take(self, idx: np.ndarray) -> GreeksQuery:
        return GreeksQuery(*(getattr(self, f)[idx] for f in self.__dataclass_fields__))


GREEKS_FIELDS = ("price", "iv", "delta", "gamma", "theta", "vega", "rho")
_FLOAT_FORMAT = "%.12g"


@dataclass(frozen=True, slots=True)
class GreeksBatch:
    """Kernel results of a batch in wire units (iv in percent); NaN where `errors` says why."""

    columns: dict[str, np.ndarray]
    errors: list[str | None]

    def to_json(self) -> bytes:
        """`{"items": [{"price": ..., ..., "error": ...}]}` built as text, column by column.

        Several times faster than dicts through json.dumps for 10,000 items, most of which is
        float formatting: 12 significant digits (`%.12g`, valid JSON for finite numbers) cost half
        of the shortest round-trip repr. NaN becomes null.
        """
        texts = []
        for name in GREEKS_FIELDS:
            values = self.columns[name]
            text = list(map(_FLOAT_FORMAT.__mod__, values.tolist()))
            for i in np.flatnonzero(~np.isfinite(values)).tolist():
                text[i] = "null"
            texts.append(text)
        texts.append(["null" if e is None else json.dumps(e) for e in self.errors])
        template = "{" + ",".join(f'"{n}":%s' for n in (*GREEKS_FIELDS, "error")) + "}"
        rows = [template % row for row in zip(*texts, strict=True)]
        return ('{"items":[' + ",".join(rows) + "]}").encode()


def batch_greeks(model: Literal["bsm", "black76"], query: GreeksQuery) -> GreeksBatch:
    """Price, IV (percent) and Greeks per item, at most two kernel calls (by iv and by price)."""
    n = query.spot.size
    columns = {name: np.full(n, np.nan) for name in GREEKS_FIELDS}
    errors: list[str | None] = [None] * n
    by_iv = ~np.isnan(query.iv)
    for mask, kind in ((by_iv, "iv"), (~by_iv, "price")):
        if not mask.any():
            continue
        idx = np.flatnonzero(mask)
        # the usual batch is all-iv or all-price: then no gather is needed
        part = query if idx.size == n else query.take(idx)
        target = {kind: part.iv if kind == "iv" else part.price}
        result = greeks.compute(
            model,
            part.is_call,
            part.spot,
            part.strike,
            part.t_years,
            part.rate,
            part.dividend_yield,
            **target,
        )
        for name in columns:
            columns[name][idx] = getattr(result, name)
        for position, error in zip(idx.tolist(), result.error, strict=True):
            errors[position] = error
    columns["iv"] = columns["iv"] * 100.0
    return GreeksBatch(columns, errors)
