"""Vectorized European option pricing, Greeks and implied volatility.

Models
    ``bsm``      Black-Scholes-Merton on a spot ``S`` with a continuous dividend yield ``q``
                 (forward ``F = S e^{(r-q)T}``).
    ``black76``  Black-76 on a forward ``F`` (``spot`` is the forward; ``dividend_yield`` is
                 ignored because the forward already carries it).

Units (README.md "Units on the wire"; only ``iv`` stays a decimal here, the route layer turns it
into percent)
    inputs      ``rate``, ``dividend_yield`` and ``iv`` are decimals (0.065 is 6.5 %, 0.20 is 20 %),
                ``t_years`` is calendar time, ACT/365.
    price       premium, same currency as spot/strike.
    delta       per 1 point of the underlying (of the forward for black76).
    gamma       per point squared.
    theta       premium change per CALENDAR day: annual theta / 365.
    vega        premium per 1 volatility point (0.01 of sigma).
    rho         premium per 1 rate point (0.01 of rate); for black76 the forward is held fixed,
                so rho = -T * price / 100.

Implied volatility
    The price is reduced to the out-of-the-money side by put-call parity (an in-the-money call
    becomes the out-of-the-money put with the same strike and vice versa) and normalised the way
    Jaeckel does in "Let's be rational" (2015): x = -|ln(F/K)| <= 0, beta = OTM undiscounted price /
    sqrt(F K), which is the price of a normalised OTM call b(x, s) with s = sigma sqrt(T) and
    b_max = e^{x/2}.  The root of b(x, s) = beta is found with third-order Householder steps on one
    of three objectives, as in Jaeckel's method:

    * below the inflection point (beta < b(x, s_c), s_c = sqrt(2|x|)):  1/ln b(s) - 1/ln beta,
      nearly linear in s even when beta is tiny;
    * near the maximum (beta > max(b(x, s_c), b_max / 2)):  ln((b_max - beta) / (b_max - b(s))),
      where b_max - b is evaluated from complementary CDFs, without cancellation;
    * otherwise:  b(s) - beta.

    The first guess comes from the asymptotic maps of Jaeckel's paper (the inverse of the lower
    map for low prices, the exact at-the-money inverse for high prices) combined with the tangent
    at the inflection point, which bounds the root (b is convex below s_c and concave above).
    Every evaluation tightens a bracket; a step leaving it is replaced by bisection.  An item has
    converged when its residual is at the rounding noise of b or its Newton step is below 1e-8
    relative (the step is then taken, leaving an error of order 1e-16); in large batches converged
    items leave the iteration.  Typically two Householder iterations and a cheap final check;
    the result is as accurate as b itself can be evaluated (about 1e-15 of the underlying in
    price terms).  Solutions outside [SIGMA_MIN, SIGMA_MAX] are reported as errors, not clamped.

    Price bounds are checked against the discounted forward, not S - K:
    ``e^{-rT} max(omega (F - K), 0) < price < e^{-rT} F`` (call) or ``e^{-rT} K`` (put), with
    omega = +1 for a call and -1 for a put.  An in-the-money price whose time value is within
    floating-point rounding of the intrinsic value counts as "at intrinsic": its implied
    volatility would be rounding noise.

Errors
    An item whose result is undefined gets NaN in every numeric field and a short reason in
    ``GreeksResult.error``; other items of the same call are unaffected.  Nothing is clamped or
    made up.

Normal CDF and its inverse: ``scipy.special.ndtr``/``ndtri`` (about 2 us per 400 values).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy.special import ndtr as _ndtr
from scipy.special import ndtri as _ndtri

from optrade.domain import DAYS_PER_YEAR

__all__ = ["SIGMA_MAX", "SIGMA_MIN", "GreeksResult", "compute"]

FloatArray = npt.NDArray[np.float64]
ArrayLike = npt.ArrayLike

#: Volatility bounds (decimal) within which an implied volatility is accepted.
SIGMA_MIN = 1e-6
SIGMA_MAX = 10.0

_EPS = float(np.finfo(np.float64).eps)
_INV_SQRT_2PI = 0.3989422804014326779399460599343818684758586311649
_SQRT_2PI = 2.5066282746310005024157652848110452530069867406099
_SQRT3 = 1.7320508075688772935274463415058723669428052538104
_LOWER_MAP_C = 1.2091995761561452337293855889768331894610  # 2 pi / sqrt(27)
_NEWTON_TOL = 1e-8  # relative Newton step below which an iterate has converged
_MAX_ITER = 100  # Householder steps plus bisection fallbacks; never reached in practice
_COMPACT_MIN = 2048  # drop converged items from the iteration only in batches this large

# ---------------------------------------------------------------------------------------------
# Result type and error reasons
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GreeksResult:
    """Kernel output; every numeric field is a float64 array of the broadcast input shape.

    ``error`` has one entry per item in C order (``np.ravel`` order of the numeric fields):
    ``None`` when the item is fine, otherwise a short reason, and then every numeric field of
    that item is NaN.
    """

    price: FloatArray
    iv: FloatArray
    delta: FloatArray
    gamma: FloatArray
    theta: FloatArray
    vega: FloatArray
    rho: FloatArray
    error: list[str | None]


_OK = 0
_E_SPOT = 1
_E_STRIKE = 2
_E_T_NONFINITE = 3
_E_T = 4
_E_RATE = 5
_E_IV_MISSING = 6
_E_IV = 7
_E_PRICE_MISSING = 8
_E_PRICE_NEGATIVE = 9
_E_INTRINSIC = 10
_E_UPPER = 11
_E_BOUNDS = 12
_E_NO_CONVERGENCE = 13

_MESSAGES: dict[int, str] = {
    _E_SPOT: "spot must be a finite number > 0",
    _E_STRIKE: "strike must be a finite number > 0",
    _E_T_NONFINITE: "t_years must be finite",
    _E_T: "t_years must be > 0",
    _E_RATE: "rate and dividend_yield must be finite",
    _E_IV_MISSING: "missing volatility",
    _E_IV: "iv must be a finite number > 0",
    _E_PRICE_MISSING: "missing or zero price",
    _E_PRICE_NEGATIVE: "negative price",
    _E_INTRINSIC: "price at or below discounted intrinsic value",
    _E_UPPER: "price at or above the no-arbitrage upper bound",
    _E_BOUNDS: "no solution within volatility bounds",
    _E_NO_CONVERGENCE: "implied volatility solver did not converge",
}
_MESSAGE_TABLE = np.array(
    [None] + [_MESSAGES[c] for c in range(1, len(_MESSAGES) + 1)], dtype=object
)


# ---------------------------------------------------------------------------------------------
# Public entry point
# ---------------------------------------------------------------------------------------------


def compute(
    model: Literal["bsm", "black76"],
    is_call: ArrayLike,
    spot: ArrayLike,
    strike: ArrayLike,
    t_years: ArrayLike,
    rate: ArrayLike,
    dividend_yield: ArrayLike = 0.0,
    *,
    iv: ArrayLike | None = None,
    price: ArrayLike | None = None,
) -> GreeksResult:
    """Price, implied volatility and Greeks of European options, vectorized.

    Args:
        model: ``"bsm"`` (``spot`` is the spot, ``dividend_yield`` applies) or ``"black76"``
            (``spot`` is the forward; ``dividend_yield`` is ignored).
        is_call: boolean array, True for a call (CE), False for a put (PE).
        spot, strike, t_years, rate, dividend_yield: arrays or scalars, broadcast together.
            ``rate``/``dividend_yield`` are continuously compounded decimals; ``t_years`` is
            calendar seconds to expiry / (365 * 86400).
        iv: decimal volatility (0.20 = 20 %).  Exactly one of ``iv`` and ``price`` is given; NaN
            marks a missing item.
        price: option premium; the implied volatility is solved and the Greeks are evaluated at
            it.  ``GreeksResult.price`` then echoes this input.

    Returns:
        A :class:`GreeksResult` in the units described in the module docstring.
    """
    if model not in ("bsm", "black76"):
        raise ValueError(f"model must be 'bsm' or 'black76', got {model!r}")
    if (iv is None) == (price is None):
        raise ValueError("give exactly one of iv or price")
    call_in = np.asarray(is_call)
    if call_in.dtype != np.bool_:
        raise TypeError(f"is_call must be a boolean array, got dtype {call_in.dtype}")
    target_in = iv if iv is not None else price

    floats = [
        np.asarray(a, dtype=np.float64)
        for a in (spot, strike, t_years, rate, dividend_yield, target_in)
    ]
    shape = np.broadcast_shapes(call_in.shape, *(a.shape for a in floats))
    call = _flat(call_in, shape)
    s_in, k, t, r, q, target = (_flat(a, shape) for a in floats)
    n = call.size
    black76 = model == "black76"

    with np.errstate(all="ignore"):
        codes = _input_codes(s_in, k, t, r, r if black76 else q, n)
        omega = np.where(call, 1.0, -1.0)  # +1 call, -1 put
        disc = np.exp(-r * t)
        fwd = s_in if black76 else s_in * np.exp((r - q) * t)
        sqrt_t = np.sqrt(t)
        ln_fk = np.log(fwd / k)
        if iv is not None:
            sigma = target.copy()  # returned as the result's iv
            if np.count_nonzero((sigma > 0.0) & (sigma < np.inf)) < n:
                _flag(codes, np.isnan(sigma), _E_IV_MISSING)
                _flag(codes, ~((sigma > 0.0) & (sigma < np.inf)), _E_IV)
            out_price = None
        else:
            sigma, codes = _implied_vol(omega, target, fwd, k, disc, sqrt_t, ln_fk, codes)
            out_price = target
        out = np.empty((6, n))
        _greeks(
            omega,
            s_in,
            fwd,
            k,
            t,
            r,
            r if black76 else q,  # the carry of the forward leg in theta
            disc,
            sqrt_t,
            ln_fk,
            sigma,
            black76,
            out_price,
            out,
        )

    bad = np.flatnonzero(codes)
    if bad.size:
        out[:, bad] = np.nan
        sigma[bad] = np.nan
        errors: list[str | None] = _MESSAGE_TABLE[codes].tolist()
    else:
        errors = [None] * n
    price_out, delta, gamma, theta, vega, rho = (row.reshape(shape) for row in out)
    return GreeksResult(
        price=price_out,
        iv=sigma.reshape(shape),
        delta=delta,
        gamma=gamma,
        theta=theta,
        vega=vega,
        rho=rho,
        error=errors,
    )


# ---------------------------------------------------------------------------------------------
# Internals
# ---------------------------------------------------------------------------------------------


def _flat(a: npt.NDArray[Any], shape: tuple[int, ...]) -> npt.NDArray[Any]:
    """``a`` broadcast to ``shape`` as a contiguous 1-D array (a view when already so)."""
    if a.shape == shape:
        return a.ravel()
    if a.ndim == 0:
        return np.full(math.prod(shape), a, dtype=a.dtype)
    return np.broadcast_to(a, shape).ravel()


def _flag(codes: npt.NDArray[np.int8], mask: npt.NDArray[np.bool_], code: int) -> None:
    """Set ``code`` where ``mask`` holds and no earlier (more fundamental) reason is set."""
    codes[mask & (codes == _OK)] = code


def _input_codes(
    s: FloatArray, k: FloatArray, t: FloatArray, r: FloatArray, q: FloatArray, n: int
) -> npt.NDArray[np.int8]:
    codes = np.zeros(n, dtype=np.int8)
    # fast path: one reduction when everything is well formed
    ok = np.isfinite(s + k + t + r + q) & (s > 0.0) & (k > 0.0) & (t > 0.0)
    if np.count_nonzero(ok) == n:
        return codes
    _flag(codes, ~((s > 0.0) & np.isfinite(s)), _E_SPOT)
    _flag(codes, ~((k > 0.0) & np.isfinite(k)), _E_STRIKE)
    _flag(codes, np.isnan(t) | np.isinf(t), _E_T_NONFINITE)
    _flag(codes, ~(t > 0.0), _E_T)
    _flag(codes, ~(np.isfinite(r) & np.isfinite(q)), _E_RATE)
    return codes


def _greeks(
    omega: FloatArray,
    spot: FloatArray,
    fwd: FloatArray,
    k: FloatArray,
    t: FloatArray,
    r: FloatArray,
    carry: FloatArray,
    disc: FloatArray,
    sqrt_t: FloatArray,
    ln_fk: FloatArray,
    sigma: FloatArray,
    black76: bool,
    given_price: FloatArray | None,
    out: FloatArray,
) -> None:
    """Closed-form price and Greeks in wire units (see module docstring) into the rows of ``out``.

    Rows: price, delta, gamma, theta, vega, rho.  ``carry`` is the rate at which the forward leg
    accrues in theta: the dividend yield for bsm, the rate for black76 (whose theta is
    r * price - e^{-rT} F phi(d1) sigma / (2 sqrt T)).
    """
    price, delta, gamma, theta, vega, rho = out
    s = sigma * sqrt_t
    d1 = ln_fk / s + 0.5 * s
    d2 = d1 - s
    dfwd = disc * fwd  # = e^{-qT} S for bsm
    fwd_leg = omega * dfwd * _ndtr(omega * d1)  # omega e^{-rT} F N(omega d1)
    strike_leg = omega * (disc * k) * _ndtr(omega * d2)  # omega e^{-rT} K N(omega d2)
    if given_price is None:
        np.subtract(fwd_leg, strike_leg, out=price)
    else:
        price[...] = given_price
    dfwd_pdf = dfwd * (_INV_SQRT_2PI * np.exp(-0.5 * d1 * d1))
    np.divide(fwd_leg, spot, out=delta)
    np.divide(dfwd_pdf, spot * spot * s, out=gamma)
    theta_annual = carry * fwd_leg - r * strike_leg - dfwd_pdf * sigma / (2.0 * sqrt_t)
    np.multiply(theta_annual, 1.0 / DAYS_PER_YEAR, out=theta)
    np.multiply(dfwd_pdf, sqrt_t * 0.01, out=vega)
    np.multiply(price if black76 else strike_leg, t * (-0.01 if black76 else 0.01), out=rho)


def _implied_vol(
    omega: FloatArray,
    price: FloatArray,
    fwd: FloatArray,
    k: FloatArray,
    disc: FloatArray,
    sqrt_t: FloatArray,
    ln_fk: FloatArray,
    codes: npt.NDArray[np.int8],
) -> tuple[FloatArray, npt.NDArray[np.int8]]:
    """Implied volatility (decimal) per item; NaN where ``codes`` end up non-zero."""
    undisc = price / disc
    # out-of-the-money time value: price - e^{-rT} max(omega (F - K), 0), undiscounted
    intrinsic = np.maximum(omega * (fwd - k), 0.0)
    otm = undisc - intrinsic
    low_fk = np.minimum(fwd, k)  # upper bound of the OTM option, undiscounted
    # an in-the-money price within rounding of its intrinsic value carries no time value
    noise = (intrinsic > 0.0) * ((4.0 * _EPS) * (undisc + fwd + k))
    solvable = (otm > noise) & (otm < low_fk)  # False for NaN
    if np.count_nonzero(solvable) < price.size:
        # the reason, for the few items that cannot be solved and have no earlier reason
        bad = np.flatnonzero(~solvable & (codes == _OK))
        p, o = price[bad], otm[bad]
        codes = codes.copy()
        codes[bad] = np.where(
            np.isnan(p) | (p == 0.0),
            _E_PRICE_MISSING,
            np.where(
                p < 0.0, _E_PRICE_NEGATIVE, np.where(o >= low_fk[bad], _E_UPPER, _E_INTRINSIC)
            ),
        )

    idx_all = np.count_nonzero(codes) == 0
    if idx_all:  # common case: no gather needed
        f_i, k_i, otm_i, lfk_i, lnfk_i = fwd, k, otm, low_fk, ln_fk
    else:
        sigma = np.full(price.shape, np.nan)
        idx = np.flatnonzero(codes == _OK)
        if idx.size == 0:
            return sigma, codes
        f_i, k_i, otm_i, lfk_i, lnfk_i = fwd[idx], k[idx], otm[idx], low_fk[idx], ln_fk[idx]
    # Jaeckel's normalisation: b(x, s) = e^{x/2} N(x/s + s/2) - e^{-x/2} N(x/s - s/2), x <= 0
    root_fk = np.sqrt(f_i * k_i)
    x = -np.abs(lnfk_i)
    beta = otm_i / root_fk
    b_max = lfk_i / root_fk  # e^{x/2}
    inv_b_max = np.maximum(f_i, k_i) / root_fk  # e^{-x/2}
    b_comp = (lfk_i - otm_i) / root_fk  # b_max - beta, without cancellation
    s, converged = _solve_normalised(x, beta, b_max, inv_b_max, b_comp)

    sig = s / (sqrt_t if idx_all else sqrt_t[idx])
    in_bounds = (sig >= SIGMA_MIN) & (sig <= SIGMA_MAX)
    if np.count_nonzero(in_bounds & converged) == sig.size:
        sub_codes = np.zeros(sig.size, dtype=np.int8)
    else:
        sub_codes = np.where(
            converged, np.where(in_bounds, _OK, _E_BOUNDS), _E_NO_CONVERGENCE
        ).astype(np.int8)
        sig[sub_codes != _OK] = np.nan
    if idx_all:
        return sig, sub_codes
    sigma[idx] = sig
    codes[idx] = sub_codes
    return sigma, codes


# ---------------------------------------------------------------------------------------------
# The normalised solver: find the total volatility s = sigma sqrt(T) of an OTM option price
# ---------------------------------------------------------------------------------------------


@dataclass
class _Search:
    """The options still being solved, in normalised terms, sorted by objective.

    Slices: ``[:n_low]`` cheap options (below the inflection point, objective 1/ln b),
    ``[n_low:size - n_high]`` the plain objective b - beta, ``[size - n_high:]`` options priced
    near their ceiling (objective ln(b_max - b)).  ``active`` maps each item back to its position
    in the caller's arrays.
    """

    active: npt.NDArray[np.intp]
    log_moneyness: FloatArray  # x = -|ln(F/K)| <= 0
    target: FloatArray  # beta: OTM undiscounted price / sqrt(F K)
    ceiling: FloatArray  # b_max = e^{x/2}: the normalised price as s -> infinity
    ceiling_inv: FloatArray  # e^{-x/2}
    headroom: FloatArray  # b_max - beta, computed without cancellation
    total_vol: FloatArray  # the current iterate s
    lower: FloatArray  # bracket of the root, tightened by every evaluation
    upper: FloatArray
    peak_vega: FloatArray  # b_max / sqrt(2 pi): b'(s) = peak_vega e^{-d1^2 / 2}
    log_target: FloatArray  # ln beta of the cheap options
    n_low: int
    n_high: int

    @property
    def size(self) -> int:
        return int(self.active.size)

    def keep(self, keep: npt.NDArray[np.bool_], total_vol: FloatArray) -> None:
        """Drop the items where ``keep`` is False; ``total_vol`` becomes the iterate."""
        lo, hi = self.n_low, self.size - self.n_high
        self.log_target = self.log_target[keep[:lo]]
        self.n_low = int(np.count_nonzero(keep[:lo]))
        self.n_high = int(np.count_nonzero(keep[hi:]))
        self.active = self.active[keep]
        self.total_vol = total_vol[keep]
        for name in ("log_moneyness", "target", "ceiling", "ceiling_inv", "headroom", "lower",
                     "upper", "peak_vega"):  # fmt: skip
            setattr(self, name, getattr(self, name)[keep])


@dataclass
class _Evaluation:
    """b(x, s) at the current iterate and the Newton step of each item's objective."""

    h: FloatArray  # x / s
    price: FloatArray  # b(x, s)
    scale: FloatArray  # size of b's two terms; b_max - b for the near-ceiling items
    residual: FloatArray  # beta - b
    newton: FloatArray
    log_price: FloatArray  # ln b of the cheap options
    vega_over_price: FloatArray  # b'/b of the cheap options
    vega_over_gap: FloatArray  # b'/(b_max - b) of the near-ceiling options


def _solve_normalised(
    x: FloatArray,
    beta: FloatArray,
    b_max: FloatArray,
    inv_b_max: FloatArray,
    b_comp: FloatArray,
) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """Solve b(x, s) = beta for s > 0 (x <= 0, 0 < beta < b_max).  Returns (s, converged).

    Items are sorted by objective (low, plain, high) so that the objective-specific terms are
    computed on contiguous slices.  In a large batch converged items are dropped after each
    iteration (a boolean gather keeps the order, so the slices stay contiguous); in a small one
    the per-call overhead of numpy dominates, so they simply ride along until all have converged.
    Reductions use ``count_nonzero``, much cheaper than ``all``/``any`` on small arrays.
    """
    search = _start_search(x, beta, b_max, inv_b_max, b_comp)
    s_out = np.empty(x.size)
    converged = np.zeros(x.size, dtype=np.bool_)
    done_before = np.zeros(x.size, dtype=np.bool_)
    for iteration in range(_MAX_ITER):
        ev = _evaluate(search)
        # not tested before the first step, which starts from a guess
        at_noise = _at_noise(search, ev) if iteration else None
        if at_noise is None:
            done = np.zeros(search.size, dtype=np.bool_)
        else:
            done = at_noise | (np.abs(ev.newton) <= _NEWTON_TOL * search.total_vol) | done_before
            if np.count_nonzero(done) == search.size:
                # a Newton step this small leaves an error of order step^2: take it
                s_final = np.where(at_noise, search.total_vol, search.total_vol + ev.newton)
                s_out[search.active] = s_final
                converged[search.active] = True
                return s_out, converged
        s_new = _householder_step(search, ev, done)
        if at_noise is not None:
            np.copyto(s_new, search.total_vol, where=at_noise)
        if np.count_nonzero(done) == 0 or search.size < _COMPACT_MIN:
            done_before = done
            search.total_vol = s_new
            continue
        finished = search.active[done]
        s_out[finished] = s_new[done]
        converged[finished] = True
        search.keep(~done, s_new)
        done_before = np.zeros(search.size, dtype=np.bool_)
    s_out[search.active] = search.total_vol
    return s_out, converged


def _start_search(
    x: FloatArray,
    beta: FloatArray,
    b_max: FloatArray,
    inv_b_max: FloatArray,
    b_comp: FloatArray,
) -> _Search:
    """Sort the items by objective, bracket them at the inflection point and guess a first s."""
    n = x.size
    # inflection point s_c = sqrt(2|x|): b_c = b(x, s_c), vega there = b_max / sqrt(2 pi)
    s_infl = np.sqrt(-2.0 * x)
    b_infl = 0.5 * b_max - _ndtr(-s_infl) * inv_b_max
    low = beta < b_infl
    n_low = int(np.count_nonzero(low))
    high = (beta > b_infl) & (beta > 0.5 * b_max) if n_low < n else low & False
    n_high = int(np.count_nonzero(high))
    columns: tuple[FloatArray, ...] = (x, beta, b_max, inv_b_max, b_comp, s_infl, b_infl)
    if n_low in (0, n) and n_high in (0, n):  # one objective for all (a typical chain): no sort
        order = np.arange(n)
    else:
        region = high.astype(np.intp) - low.astype(np.intp) + 1
        order = np.argsort(region, kind="stable")
        columns = tuple(a[order] for a in columns)
    x, beta, b_max, inv_b_max, b_comp, s_infl, b_infl = columns
    guess = _first_guess(x, beta, b_max, inv_b_max, b_comp, s_infl, b_infl, n_low)
    # b is convex below s_c and concave above: the inflection point bounds every root
    lower = np.zeros(n)
    lower[n_low:] = s_infl[n_low:]
    upper = np.full(n, np.inf)
    upper[:n_low] = s_infl[:n_low]
    return _Search(
        active=order,
        log_moneyness=x,
        target=beta,
        ceiling=b_max,
        ceiling_inv=inv_b_max,
        headroom=b_comp,
        total_vol=guess,
        lower=lower,
        upper=upper,
        peak_vega=_INV_SQRT_2PI * b_max,
        log_target=np.log(beta[:n_low]),
        n_low=n_low,
        n_high=n_high,
    )


def _first_guess(
    x: FloatArray,
    beta: FloatArray,
    b_max: FloatArray,
    inv_b_max: FloatArray,
    b_comp: FloatArray,
    s_infl: FloatArray,
    b_infl: FloatArray,
    n_low: int,
) -> FloatArray:
    """Jaeckel's asymptotic maps, bounded by the tangent at the inflection point.

    The tangent bounds the root from above below s_c (b convex there) and from below above s_c
    (b concave there).
    """
    n = x.size
    guess = s_infl + (beta - b_infl) * (_SQRT_2PI / b_max)  # the tangent's root
    if n_low:
        # inverse of Jaeckel's lower map f(s) = 2 pi |x| / sqrt(27) N(-|x| / (sqrt3 s))^3,
        # which tends to b(x, s) as s -> 0
        ax, tangent = -x[:n_low], guess[:n_low]
        u = np.minimum(np.cbrt(beta[:n_low] / (_LOWER_MAP_C * ax)), 0.4999)
        s_map = ax / (_SQRT3 * -_ndtri(u))
        low_guess = np.minimum(s_map, tangent)
        np.copyto(low_guess, s_map, where=tangent <= 0.0)  # a negative tangent root bounds nothing
        guess[:n_low] = low_guess
    if n_low < n:
        # b_max - b ~ (e^{x/2} + e^{-x/2}) N(-s/2), exact at the money
        rest = slice(n_low, n)
        s_map = -2.0 * _ndtri(b_comp[rest] / (b_max[rest] + inv_b_max[rest]))
        np.maximum(s_map, guess[rest], out=guess[rest])
        # a price within rounding of b_max (sigma far beyond SIGMA_MAX) can make this infinite
        bad_guess = ~(guess[rest] < np.inf)
        if np.count_nonzero(bad_guess):
            np.copyto(guess[rest], s_infl[rest] + 1.0, where=bad_guess)
    return guess


def _evaluate(search: _Search) -> _Evaluation:
    """b(x, s), its residual and each item's Newton step on its own objective."""
    lo, hi = search.n_low, search.size - search.n_high
    s, x = search.total_vol, search.log_moneyness
    h = x / s
    d1 = h + 0.5 * s
    d2 = d1 - s
    forward_term = search.ceiling * _ndtr(d1)
    if search.n_high:  # N(-d1): the near-ceiling items need b_max - b, not b
        forward_term[hi:] = search.ceiling[hi:] * _ndtr(-d1[hi:])
    strike_term = search.ceiling_inv * _ndtr(d2)
    price = forward_term - strike_term
    scale = forward_term + strike_term  # b_max - b for the near-ceiling items
    if search.n_high:
        price[hi:] = search.ceiling[hi:] - scale[hi:]
    residual = search.target - price
    vega = search.peak_vega * np.exp(-0.5 * d1 * d1)
    newton = residual / vega
    log_price = np.log(price[:lo])
    vega_over_price = vega[:lo] / price[:lo]
    if lo:  # 1/ln b - 1/ln beta
        log_target = search.log_target
        np.divide(
            (log_target - log_price) * log_price, log_target * vega_over_price, out=newton[:lo]
        )
    vega_over_gap = vega[hi:] / scale[hi:]
    if search.n_high:  # ln((b_max - beta) / (b_max - b))
        np.divide(np.log(scale[hi:] / search.headroom[hi:]), vega_over_gap, out=newton[hi:])
    return _Evaluation(h, price, scale, residual, newton, log_price, vega_over_price, vega_over_gap)


def _at_noise(search: _Search, ev: _Evaluation) -> npt.NDArray[np.bool_]:
    """Items whose residual is within the rounding noise of b: nothing more to gain."""
    at_noise: npt.NDArray[np.bool_] = np.abs(ev.residual) <= (4.0 * _EPS) * ev.scale
    hi = search.size - search.n_high
    if search.n_high:
        at_noise[hi:] = np.abs(ev.residual[hi:]) <= (4.0 * _EPS) * search.ceiling[hi:]
    return at_noise


def _householder_step(search: _Search, ev: _Evaluation, done: npt.NDArray[np.bool_]) -> FloatArray:
    """The next iterate: a third-order step, replaced by bisection where it leaves the bracket.

    Tightens the bracket with the current evaluation first, and marks in ``done`` the items
    whose bracket has shrunk to rounding noise.
    """
    lo, hi = search.n_low, search.size - search.n_high
    s = search.total_vol
    np.copyto(search.upper, s, where=ev.residual < 0.0)
    np.copyto(search.lower, s, where=ev.residual > 0.0)
    h_over_s = ev.h / s
    curvature = ev.h * h_over_s - 0.25 * s  # b''/b'
    third = curvature * curvature - 3.0 * h_over_s * h_over_s - 0.25  # b'''/b'
    if lo:  # the same ratios for 1/ln b
        vob = ev.vega_over_price
        inv_ln_b = 1.0 / ev.log_price
        f2 = 1.0 + 2.0 * inv_ln_b
        low_curvature = curvature[:lo]
        third[:lo] += vob * (
            2.0 * vob * (1.0 + 3.0 * inv_ln_b * (1.0 + inv_ln_b)) - 3.0 * low_curvature * f2
        )
        low_curvature -= vob * f2
    if search.n_high:  # and for ln(b_max - b)
        gp = ev.vega_over_gap
        third[hi:] += gp * (2.0 * gp + 3.0 * curvature[hi:])
        curvature[hi:] += gp
    newton = ev.newton
    hn = curvature * newton
    s_new = s + newton * (1.0 + 0.5 * hn) / (1.0 + hn + third * newton * newton * (1.0 / 6.0))
    lower, upper = search.lower, search.upper
    inside = (s_new >= lower) & (s_new <= upper)  # False for NaN
    if np.count_nonzero(inside) < search.size:
        bisect = np.where(upper < np.inf, 0.5 * (lower + upper), 2.0 * np.maximum(lower, s))
        s_new = np.where(inside | done, s_new, bisect)
        done |= upper - lower <= (4.0 * _EPS) * s
    return s_new
