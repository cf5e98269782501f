"""Vectorized European option pricing, Greeks and implied volatility.

Models
    ``bsm``      Black-Scholes-Merton on a spot ``S`` with a continuous dividend yield ``q``
                 (forward ``F = S e^{(r-q)T}``).
    ``black76``  Black-76 on a forward ``F`` (``spot`` is the forward; ``dividend_yield`` is
                 ignored because the forward already carries it).

Units (DESIGN section 2, wire units; only ``iv`` stays a decimal here, the route layer turns it
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

Normal CDF: ``scipy.special.ndtr``/``ndtri`` when scipy is importable (measured: about 2 us per
400 values); otherwise a numpy port of W. J. Cody's rational Chebyshev erf/erfc (Math. Comp. 1969,
a few ulp) and Acklam's inverse (first guesses only), so the module also works with numpy alone,
about 2.5x slower.  scipy is not a declared runtime dependency of the service yet.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

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
# Normal distribution
# ---------------------------------------------------------------------------------------------

# W. J. Cody, "Rational Chebyshev approximations for the error function", Math. Comp. 23 (1969).
_CODY_A = (
    3.1611237438705656,
    113.864154151050156,
    377.485237685302021,
    3209.37758913846947,
    0.185777706184603153,
)
_CODY_B = (23.6012909523441209, 244.024637934444173, 1282.61652607737228, 2844.23683343917062)
_CODY_C = (
    0.564188496988670089,
    8.88314979438837594,
    66.1191906371416295,
    298.635138197400131,
    881.95222124176909,
    1712.04761263407058,
    2051.07837782607147,
    1230.33935479799725,
    2.15311535474403846e-8,
)
_CODY_D = (
    15.7449261107098347,
    117.693950891312499,
    537.181101862009858,
    1621.38957456669019,
    3290.79923573345963,
    4362.61909014324716,
    3439.36767414372164,
    1230.33935480374942,
)
_CODY_P = (
    0.305326634961232344,
    0.360344899949804439,
    0.125781726111229246,
    0.0160837851487422766,
    6.58749161529837803e-4,
    0.0163153871373020978,
)
_CODY_Q = (
    2.56852019228982242,
    1.87295284992346047,
    0.527905102951428412,
    0.0605183413124413191,
    0.00233520497626869185,
)
_SQRT_1_PI = 0.56418958354775628695


def _ndtr_numpy(z: FloatArray) -> FloatArray:
    """Standard normal CDF with numpy only: Cody's erf (|y| <= 0.46875) and erfc (beyond)."""
    z = np.asarray(z, dtype=np.float64)
    with np.errstate(all="ignore"):
        y = np.minimum(np.abs(z) * 0.70710678118654752440, 40.0)  # erfc(40) underflows to 0
        # 0.46875 < y <= 4: erfc(y) = exp(-y^2) P(y) / Q(y)
        num = _CODY_C[8] * y
        den = y.copy()
        for i in range(7):
            num = (num + _CODY_C[i]) * y
            den = (den + _CODY_D[i]) * y
        ratio = (num + _CODY_C[7]) / (den + _CODY_D[7])
        big = y > 4.0
        if big.any():  # erfc(y) = exp(-y^2) / y (1/sqrt(pi) + y^-2 R(y^-2))
            zz = 1.0 / np.maximum(y * y, 16.0)
            num = _CODY_P[5] * zz
            den = zz.copy()
            for i in range(4):
                num = (num + _CODY_P[i]) * zz
                den = (den + _CODY_Q[i]) * zz
            tail = (_SQRT_1_PI - zz * (num + _CODY_P[4]) / (den + _CODY_Q[4])) / np.maximum(y, 4.0)
            ratio = np.where(big, tail, ratio)
        # exp(-y^2) with y^2 split so that the rounding of y^2 is not amplified by exp
        y16 = np.trunc(y * 16.0) / 16.0
        half_erfc = 0.5 * np.exp(-y16 * y16) * np.exp(-(y - y16) * (y + y16)) * ratio
        out = np.where(z < 0.0, half_erfc, 1.0 - half_erfc)
        small = y <= 0.46875
        if small.any():  # erf(y) = y P(y^2) / Q(y^2); N(z) = 1/2 + erf(z / sqrt 2) / 2
            ysq = y * y
            num = _CODY_A[4] * ysq
            den = ysq.copy()
            for i in range(3):
                num = (num + _CODY_A[i]) * ysq
                den = (den + _CODY_B[i]) * ysq
            erf = y * (num + _CODY_A[3]) / (den + _CODY_B[3])
            out = np.where(small, 0.5 + 0.5 * np.copysign(erf, z), out)
    return np.asarray(out, dtype=np.float64)


# P. J. Acklam's inverse normal CDF (relative error < 1.2e-9).  Used only for first guesses.
_ACKLAM_A = (
    -3.969683028665376e01,
    2.209460984245205e02,
    -2.759285104469687e02,
    1.383577518672690e02,
    -3.066479806614716e01,
    2.506628277459239e00,
)
_ACKLAM_B = (
    -5.447609879822406e01,
    1.615858368580409e02,
    -1.556989798598866e02,
    6.680131188771972e01,
    -1.328068155288572e01,
)
_ACKLAM_C = (
    -7.784894002430293e-03,
    -3.223964580411365e-01,
    -2.400758277161838e00,
    -2.549732539343734e00,
    4.374664141464968e00,
    2.938163982698783e00,
)
_ACKLAM_D = (
    7.784695709041462e-03,
    3.224671290700398e-01,
    2.445134137142996e00,
    3.754408661907416e00,
)


def _ndtri_numpy(p: FloatArray) -> FloatArray:
    """Inverse standard normal CDF to ~1e-9 relative (Acklam), numpy only."""
    p = np.asarray(p, dtype=np.float64)
    with np.errstate(all="ignore"):
        q = p - 0.5
        r = q * q
        a, b = _ACKLAM_A, _ACKLAM_B
        central = ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) / (
            ((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0
        )
        c, d = _ACKLAM_C, _ACKLAM_D
        t = np.sqrt(-2.0 * np.log(np.minimum(p, 1.0 - p)))
        tail = (((((c[0] * t + c[1]) * t + c[2]) * t + c[3]) * t + c[4]) * t + c[5]) / (
            (((d[0] * t + d[1]) * t + d[2]) * t + d[3]) * t + 1.0
        )
        tail = np.where(p > 0.5, -tail, tail)
        out = np.where(np.abs(q) <= 0.5 - 0.02425, central, tail)
    return np.asarray(out, dtype=np.float64)


def _scipy_normal() -> tuple[Callable[[Any], Any], Callable[[Any], Any]] | None:
    """scipy's ndtr/ndtri (about 10x faster than the numpy fallbacks) when scipy is installed."""
    try:
        from scipy.special import ndtr, ndtri
    except ImportError:  # pragma: no cover - the tests exercise the fallback by monkeypatching
        return None
    return ndtr, ndtri


_SCIPY_NORMAL = _scipy_normal()
_ndtr, _ndtri = _SCIPY_NORMAL if _SCIPY_NORMAL is not None else (_ndtr_numpy, _ndtri_numpy)


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
    np.multiply(theta_annual, 1.0 / 365.0, out=theta)
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
    n = x.size
    # inflection point s_c = sqrt(2|x|): b_c = b(x, s_c), vega there = b_max / sqrt(2 pi)
    s_c = np.sqrt(-2.0 * x)
    b_c = 0.5 * b_max - _ndtr(-s_c) * inv_b_max
    low = beta < b_c
    n_low = np.count_nonzero(low)
    high = (beta > b_c) & (beta > 0.5 * b_max) if n_low < n else low & False
    n_high = np.count_nonzero(high)
    # objective per item: 0 = low (1/ln b), 1 = plain (b - beta), 2 = high (ln(b_max - b))
    if n_low in (0, n) and n_high in (0, n):  # one objective for all (a typical chain): no sort
        order = np.arange(n)
        xa, ba, bma, ibma, bca, sca, bcs = x, beta, b_max, inv_b_max, b_comp, s_c, b_c
    else:
        region = high.astype(np.intp) - low.astype(np.intp) + 1
        order = np.argsort(region, kind="stable")
        xa, ba, bma, ibma, bca, sca, bcs = (
            a[order] for a in (x, beta, b_max, inv_b_max, b_comp, s_c, b_c)
        )

    # first guess; the tangent at s_c bounds the root from above below s_c (b convex there)
    # and from below above s_c (b concave there)
    sa = sca + (ba - bcs) * (_SQRT_2PI / bma)
    if n_low:
        # inverse of Jaeckel's lower map f(s) = 2 pi |x| / sqrt(27) N(-|x| / (sqrt3 s))^3,
        # which tends to b(x, s) as s -> 0
        ax, tangent = -xa[:n_low], sa[:n_low]
        u = np.minimum(np.cbrt(ba[:n_low] / (_LOWER_MAP_C * ax)), 0.4999)
        s_map = ax / (_SQRT3 * -_ndtri(u))
        guess = np.minimum(s_map, tangent)
        np.copyto(guess, s_map, where=tangent <= 0.0)  # no bound from a negative tangent root
        sa[:n_low] = guess
    if n_low < n:
        # b_max - b ~ (e^{x/2} + e^{-x/2}) N(-s/2), exact at the money
        rest = slice(n_low, n)
        s_map = -2.0 * _ndtri(bca[rest] / (bma[rest] + ibma[rest]))
        np.maximum(s_map, sa[rest], out=sa[rest])
        # a price within rounding of b_max (sigma far beyond SIGMA_MAX) can make this infinite
        bad_guess = ~(sa[rest] < np.inf)
        if np.count_nonzero(bad_guess):
            np.copyto(sa[rest], sca[rest] + 1.0, where=bad_guess)
    # bracket from the inflection point
    sla = np.zeros(n)
    sla[n_low:] = sca[n_low:]
    sra = np.full(n, np.inf)
    sra[:n_low] = sca[:n_low]
    lba = np.log(ba[:n_low])
    vega_c = _INV_SQRT_2PI * bma  # b'(s) = b_max phi(d1)
    sign_d1 = None
    if n_high:
        sign_d1 = np.ones(n)
        sign_d1[n - n_high :] = -1.0

    s_out = np.empty(n)
    converged = np.zeros(n, dtype=np.bool_)
    act = order  # original positions of the active items, in sorted order
    done_before = np.zeros(n, dtype=np.bool_)
    for iteration in range(_MAX_ITER):
        m = act.size
        lo, hi = n_low, m - n_high  # slices [:lo] low, [lo:hi] plain, [hi:] high
        h = xa / sa
        d1 = h + 0.5 * sa
        d2 = d1 - sa
        t1 = bma * _ndtr(d1 if sign_d1 is None else d1 * sign_d1)  # N(-d1) for the high ones
        t2 = ibma * _ndtr(d2)
        b = t1 - t2
        magn = t1 + t2  # b_max - b for the high objective; size of the terms otherwise
        if n_high:
            b[hi:] = bma[hi:] - magn[hi:]
        resid = ba - b
        vega = vega_c * np.exp(-0.5 * d1 * d1)
        # Newton step of each objective
        newton = resid / vega
        if n_low:  # 1/ln b - 1/ln beta
            ln_b = np.log(b[:lo])
            vob = vega[:lo] / b[:lo]
            np.divide((lba - ln_b) * ln_b, lba * vob, out=newton[:lo])
        if n_high:  # ln((b_max - beta) / (b_max - b))
            gp = vega[hi:] / magn[hi:]
            np.divide(np.log(magn[hi:] / bca[hi:]), gp, out=newton[hi:])
        # converged: the residual is at the rounding noise of b, or the Newton step is so small
        # that taking it leaves an error of order step^2 (below 1e-16 relative); not tested
        # before the first step, which starts from a guess
        if iteration:
            at_noise = np.abs(resid) <= (4.0 * _EPS) * magn
            if n_high:
                at_noise[hi:] = np.abs(resid[hi:]) <= (4.0 * _EPS) * bma[hi:]
            done = at_noise | (np.abs(newton) <= _NEWTON_TOL * sa) | done_before
            if np.count_nonzero(done) == m:
                s_out[act] = np.where(at_noise, sa, sa + newton)
                converged[act] = True
                break
        else:
            at_noise = None
            done = np.zeros(m, dtype=np.bool_)

        # third-order (Householder) step, safeguarded by a bracket that every evaluation
        # tightens (the iterate always lies inside it, so no min/max is needed)
        np.copyto(sra, sa, where=resid < 0.0)
        np.copyto(sla, sa, where=resid > 0.0)
        h_s = h / sa
        hal = h * h_s - 0.25 * sa  # b''/b'
        hh3 = hal * hal - 3.0 * h_s * h_s - 0.25  # b'''/b'
        if n_low:
            inv_ln_b = 1.0 / ln_b
            f2 = 1.0 + 2.0 * inv_ln_b
            hal_l = hal[:lo]
            hh3[:lo] += vob * (
                2.0 * vob * (1.0 + 3.0 * inv_ln_b * (1.0 + inv_ln_b)) - 3.0 * hal_l * f2
            )
            hal_l -= vob * f2
        if n_high:
            hh3[hi:] += gp * (2.0 * gp + 3.0 * hal[hi:])
            hal[hi:] += gp
        hn = hal * newton
        s_new = sa + newton * (1.0 + 0.5 * hn) / (1.0 + hn + hh3 * newton * newton * (1.0 / 6.0))
        inside = (s_new >= sla) & (s_new <= sra)  # False for NaN
        if np.count_nonzero(inside) < m:
            bisect = np.where(sra < np.inf, 0.5 * (sla + sra), 2.0 * np.maximum(sla, sa))
            s_new = np.where(inside | done, s_new, bisect)
            done |= sra - sla <= (4.0 * _EPS) * sa
        if at_noise is not None:
            np.copyto(s_new, sa, where=at_noise)
        n_done = np.count_nonzero(done)
        if n_done == 0 or m < _COMPACT_MIN:
            done_before = done
            sa = s_new
            continue
        fin = act[done]
        s_out[fin] = s_new[done]
        converged[fin] = True
        keep = ~done
        act = act[keep]
        if n_low:
            lba = lba[keep[:lo]]
        n_low = np.count_nonzero(keep[:lo])
        if n_high:
            n_high = np.count_nonzero(keep[hi:])
            sign_d1 = sign_d1[keep] if n_high else None  # type: ignore[index]
        xa, sa, ba, bma, ibma, bca, sla, sra, vega_c = (
            a[keep] for a in (xa, s_new, ba, bma, ibma, bca, sla, sra, vega_c)
        )
        done_before = np.zeros(act.size, dtype=np.bool_)
    else:
        s_out[act] = sa
    return s_out, converged
