"""The vectorized Greeks / implied-volatility kernel against QuantLib, vollib and Hull.

Tolerances
----------
Prices and Greeks must agree to 1e-9 relative.  Values near zero get an absolute floor of
1e-10 times the natural scale of the quantity (spot for money amounts, 1 for delta, 1/spot for
gamma, scaled like the quantity for theta-per-day, vega- and rho-per-point).  Why a floor: every
implementation evaluates a price as a difference of terms of size ~spot (F N(d1) - K N(d2)), so a
far out-of-the-money value carries an absolute rounding noise of ~1e-15 x spot; comparing such a
value relatively would compare rounding noise.  QuantLib's BlackCalculator makes this visible: it
forms a put's N(-d) as N(d) - 1, so its deep out-of-the-money put values and deltas are accurate
to ~1e-16 x spot absolutely but only ~1e-7 relatively (vollib and this kernel agree with each other
to ~1e-12 there).  1e-10 x spot is five orders above that noise and still far below anything a
trader can see (NIFTY at 26000: 2.6e-6 rupees).

Well-posed implied volatility (where the round trip must hold to 1e-9 relative): the
out-of-the-money-equivalent price (time value) is above 1e-8 x spot, and vega x sigma (the price
change for a 100 % relative change of sigma) is above 1e-5 x spot.  The inverse problem amplifies
the ~1e-15 x spot price noise by spot / (vega x sigma), so these items can be solved to ~1e-10.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest
import QuantLib as ql
import vollib.black as vb
import vollib.black.greeks.analytical as vb_greeks
import vollib.black.implied_volatility as vb_iv
import vollib.black_scholes_merton as vbsm
import vollib.black_scholes_merton.greeks.analytical as vbsm_greeks
import vollib.black_scholes_merton.implied_volatility as vbsm_iv

from market_data_service import greeks
from market_data_service.greeks import GreeksResult, compute

REL = 1e-9
FLOOR = 1e-10
S0 = 100.0
R = 0.065
Q = 0.015
ONE_HOUR = 1.0 / (365.0 * 24.0)
MONEYNESS = (0.7, 0.8, 0.9, 0.95, 0.99, 1.0, 1.01, 1.05, 1.1, 1.2, 1.3)
DAYS = (1, 7, 30, 91, 365)
VOLS = (0.05, 0.1, 0.2, 0.4, 0.7, 1.0)
FIELDS = ("price", "delta", "gamma", "theta", "vega", "rho")

TODAY = ql.Date(15, 1, 2025)
DC = ql.Actual365Fixed()


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def _floors(spot: np.ndarray) -> dict[str, np.ndarray]:
    one = np.ones_like(spot)
    return {
        "price": FLOOR * spot,
        "delta": FLOOR * one,
        "gamma": FLOOR / spot,
        "theta": FLOOR * spot / 365.0,
        "vega": FLOOR * spot / 100.0,
        "rho": FLOOR * spot / 100.0,
        "iv": FLOOR * one,
    }


def _assert_close(ours: np.ndarray, ref: np.ndarray, floor: np.ndarray, what: str) -> float:
    """|ours - ref| <= REL |ref| + floor elementwise; returns the max relative error seen."""
    ours = np.asarray(ours, dtype=float)
    ref = np.asarray(ref, dtype=float)
    assert np.all(np.isfinite(ours)), f"{what}: non-finite values"
    err = np.abs(ours - ref)
    ratio = err / (REL * np.abs(ref) + floor)
    worst = int(np.argmax(ratio))
    assert ratio[worst] <= 1.0, (
        f"{what}: item {worst} ours={ours[worst]!r} ref={ref[worst]!r} "
        f"abs err={err[worst]:.3e} rel err={err[worst] / abs(ref[worst]):.3e}"
    )
    significant = np.abs(ref) > floor
    return float(np.max(err[significant] / np.abs(ref[significant]), initial=0.0))


def _grid(days: tuple[float, ...] = DAYS) -> dict[str, np.ndarray]:
    rows = list(itertools.product((True, False), MONEYNESS, days, VOLS))
    return {
        "call": np.array([r[0] for r in rows]),
        "strike": np.array([S0 * r[1] for r in rows]),
        "days": np.array([r[2] for r in rows], dtype=float),
        "sigma": np.array([r[3] for r in rows]),
    }


def _ql_engine_bsm(
    call: bool, spot: float, strike: float, days: int, r: float, q: float, sigma: float
) -> dict[str, float]:
    """QuantLib AnalyticEuropeanEngine on a BlackScholesMertonProcess with flat curves."""
    ql.Settings.instance().evaluationDate = TODAY
    process = ql.BlackScholesMertonProcess(
        ql.QuoteHandle(ql.SimpleQuote(spot)),
        ql.YieldTermStructureHandle(ql.FlatForward(TODAY, q, DC)),
        ql.YieldTermStructureHandle(ql.FlatForward(TODAY, r, DC)),
        ql.BlackVolTermStructureHandle(ql.BlackConstantVol(TODAY, ql.NullCalendar(), sigma, DC)),
    )
    payoff = ql.PlainVanillaPayoff(ql.Option.Call if call else ql.Option.Put, strike)
    option = ql.VanillaOption(payoff, ql.EuropeanExercise(TODAY + int(days)))
    option.setPricingEngine(ql.AnalyticEuropeanEngine(process))
    return {
        "price": option.NPV(),
        "delta": option.delta(),
        "gamma": option.gamma(),
        "theta": option.theta() / 365.0,  # QuantLib: per year
        "vega": option.vega() / 100.0,  # QuantLib: per 1.0 of sigma
        "rho": option.rho() / 100.0,  # QuantLib: per 1.0 of rate
        "dividend_rho": option.dividendRho() / 100.0,
    }


def _ql_calculator_bsm(
    call: bool, spot: float, strike: float, t: float, r: float, q: float, sigma: float
) -> dict[str, float]:
    """QuantLib's BlackCalculator (what AnalyticEuropeanEngine evaluates) for any T.

    QuantLib dates are whole days in this build (no intraday support), so a one-hour expiry
    cannot be an exercise date; the calculator takes T as a number.
    """
    disc = math.exp(-r * t)
    fwd = spot * math.exp((r - q) * t)
    payoff = ql.PlainVanillaPayoff(ql.Option.Call if call else ql.Option.Put, strike)
    calc = ql.BlackCalculator(payoff, fwd, sigma * math.sqrt(t), disc)
    return {
        "price": calc.value(),
        "delta": calc.delta(spot),
        "gamma": calc.gamma(spot),
        "theta": calc.theta(spot, t) / 365.0,
        "vega": calc.vega(t) / 100.0,
        "rho": calc.rho(t) / 100.0,
        "dividend_rho": calc.dividendRho(t) / 100.0,
    }


def _ql_as_black76(ref: dict[str, float]) -> dict[str, float]:
    """BSM with q = r on spot F is Black-76 on F.

    Its rate sensitivity with F held fixed is rho + dividend rho (r and q move together).
    """
    out = dict(ref)
    out["rho"] = ref["rho"] + ref["dividend_rho"]
    return out


def _stack(rows: list[dict[str, float]]) -> dict[str, np.ndarray]:
    return {f: np.array([row[f] for row in rows]) for f in FIELDS}


def _vollib_bsm(call: bool, s: float, k: float, t: float, r: float, q: float, sig: float) -> Any:
    flag = "c" if call else "p"
    return {
        "price": vbsm.black_scholes_merton(flag, s, k, t, r, sig, q),
        "delta": vbsm_greeks.delta(flag, s, k, t, r, sig, q),
        "gamma": vbsm_greeks.gamma(flag, s, k, t, r, sig, q),
        "theta": vbsm_greeks.theta(flag, s, k, t, r, sig, q),  # vollib: already per day
        "vega": vbsm_greeks.vega(flag, s, k, t, r, sig, q),  # vollib: already per 1 point
        "rho": vbsm_greeks.rho(flag, s, k, t, r, sig, q),  # vollib: already per 1 point
    }


def _vollib_black(call: bool, f: float, k: float, t: float, r: float, sig: float) -> Any:
    flag = "c" if call else "p"
    return {
        "price": vb.black(flag, f, k, t, r, sig),
        "delta": vb_greeks.delta(flag, f, k, t, r, sig),
        "gamma": vb_greeks.gamma(flag, f, k, t, r, sig),
        "theta": vb_greeks.theta(flag, f, k, t, r, sig),
        "vega": vb_greeks.vega(flag, f, k, t, r, sig),
        "rho": vb_greeks.rho(flag, f, k, t, r, sig),
    }


def _well_posed(
    res: GreeksResult,
    call: np.ndarray,
    spot: np.ndarray,
    strike: np.ndarray,
    t: np.ndarray,
    r: float,
    q: float,
    model: str,
    sigma: np.ndarray,
) -> np.ndarray:
    fwd = spot if model == "black76" else spot * np.exp((r - q) * t)
    disc = np.exp(-r * t)
    intrinsic = disc * np.maximum(np.where(call, fwd - strike, strike - fwd), 0.0)
    time_value = res.price - intrinsic
    vega_unit = res.vega * 100.0
    return (time_value > 1e-8 * spot) & (vega_unit * sigma > 1e-5 * spot)


def _compare(res: GreeksResult, ref: dict[str, np.ndarray], spot: np.ndarray, what: str) -> float:
    floors = _floors(spot)
    worst = 0.0
    for f in FIELDS:
        worst = max(worst, _assert_close(getattr(res, f), ref[f], floors[f], f"{what} {f}"))
    return worst


# ---------------------------------------------------------------------------------------------
# textbook values
# ---------------------------------------------------------------------------------------------


def test_hull_greeks_example() -> None:
    # Hull, Options, Futures and Other Derivatives: S=49, K=50, r=5%, sigma=20%, T=20 weeks
    res = compute("bsm", np.array([True]), 49.0, 50.0, 0.3846, 0.05, iv=np.array([0.20]))
    assert res.error == [None]
    assert res.price[0] == pytest.approx(2.40, abs=0.005)
    assert res.delta[0] == pytest.approx(0.522, abs=0.0005)
    assert res.gamma[0] == pytest.approx(0.066, abs=0.0005)
    assert res.theta[0] * 365.0 == pytest.approx(-4.31, abs=0.005)  # per year in the book
    assert res.vega[0] == pytest.approx(0.121, abs=0.0005)  # 12.1 per 1.0 of sigma
    assert res.rho[0] == pytest.approx(0.0891, abs=0.00005)  # 8.91 per 1.0 of rate
    assert res.iv[0] == 0.20


def test_hull_implied_volatility_example() -> None:
    # Hull: a European call with S=21, K=20, r=0.1, T=0.25 priced at 1.875 has sigma ~ 0.235
    res = compute("bsm", np.array([True]), 21.0, 20.0, 0.25, 0.10, price=np.array([1.875]))
    assert res.error == [None]
    assert res.iv[0] == pytest.approx(0.235, abs=0.0005)
    assert res.price[0] == 1.875
    back = compute("bsm", np.array([True]), 21.0, 20.0, 0.25, 0.10, iv=res.iv)
    assert back.price[0] == pytest.approx(1.875, rel=1e-13)


# ---------------------------------------------------------------------------------------------
# QuantLib
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["bsm", "black76"])
def test_prices_and_greeks_match_quantlib_engine(model: str) -> None:
    g = _grid()
    q = Q if model == "bsm" else R  # black76 = BSM on F with q = r
    rows = []
    for c, k, d, sig in zip(g["call"], g["strike"], g["days"], g["sigma"], strict=True):
        ref = _ql_engine_bsm(bool(c), S0, float(k), int(d), R, q, float(sig))
        rows.append(_ql_as_black76(ref) if model == "black76" else ref)
    t = g["days"] / 365.0
    res = compute(
        model, g["call"], S0, g["strike"], t, R, Q if model == "bsm" else 0.0, iv=g["sigma"]
    )  # type: ignore[arg-type]
    assert res.error == [None] * len(rows)
    _compare(res, _stack(rows), np.full(len(rows), S0), f"QuantLib engine {model}")


@pytest.mark.parametrize("model", ["bsm", "black76"])
def test_sub_day_expiry_matches_quantlib_calculator(model: str) -> None:
    moneyness = (0.98, 0.99, 0.995, 0.999, 1.0, 1.001, 1.005, 1.01, 1.02) + MONEYNESS
    rows_in = list(itertools.product((True, False), moneyness, VOLS))
    call = np.array([r[0] for r in rows_in])
    strike = np.array([S0 * r[1] for r in rows_in])
    sigma = np.array([r[2] for r in rows_in])
    q = Q if model == "bsm" else R
    rows = []
    for c, k, sig in zip(call, strike, sigma, strict=True):
        ref = _ql_calculator_bsm(bool(c), S0, float(k), ONE_HOUR, R, q, float(sig))
        rows.append(_ql_as_black76(ref) if model == "black76" else ref)
    res = compute(model, call, S0, strike, ONE_HOUR, R, Q if model == "bsm" else 0.0, iv=sigma)  # type: ignore[arg-type]
    assert res.error == [None] * len(rows)
    _compare(res, _stack(rows), np.full(len(rows), S0), f"QuantLib 1h {model}")


def test_deep_in_and_out_of_the_money_match_quantlib() -> None:
    strikes = np.array([20.0, 40.0, 60.0, 150.0, 250.0, 500.0])
    call = np.repeat(np.array([True, False]), strikes.size)
    strike = np.tile(strikes, 2)
    rows = [
        _ql_engine_bsm(bool(c), S0, float(k), 182, R, Q, 0.3)
        for c, k in zip(call, strike, strict=True)
    ]
    res = compute("bsm", call, S0, strike, 182 / 365, R, Q, iv=np.full(strike.size, 0.3))
    _compare(res, _stack(rows), np.full(strike.size, S0), "QuantLib deep ITM/OTM")


# ---------------------------------------------------------------------------------------------
# vollib
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["bsm", "black76"])
def test_prices_and_greeks_match_vollib(model: str) -> None:
    g = _grid(DAYS + (ONE_HOUR * 365.0,))
    t = g["days"] / 365.0
    if model == "bsm":
        rows = [
            _vollib_bsm(bool(c), S0, float(k), float(tt), R, Q, float(sig))
            for c, k, tt, sig in zip(g["call"], g["strike"], t, g["sigma"], strict=True)
        ]
        res = compute("bsm", g["call"], S0, g["strike"], t, R, Q, iv=g["sigma"])
    else:
        rows = [
            _vollib_black(bool(c), S0, float(k), float(tt), R, float(sig))
            for c, k, tt, sig in zip(g["call"], g["strike"], t, g["sigma"], strict=True)
        ]
        res = compute("black76", g["call"], S0, g["strike"], t, R, iv=g["sigma"])
    _compare(res, _stack(rows), np.full(t.size, S0), f"vollib {model}")


@pytest.mark.parametrize("model", ["bsm", "black76"])
def test_implied_vol_matches_vollib(model: str) -> None:
    g = _grid(DAYS + (ONE_HOUR * 365.0,))
    t = g["days"] / 365.0
    spot = np.full(t.size, S0)
    q = Q if model == "bsm" else 0.0
    priced = compute(model, g["call"], S0, g["strike"], t, R, q, iv=g["sigma"])  # type: ignore[arg-type]
    ok = _well_posed(priced, g["call"], spot, g["strike"], t, R, q, model, g["sigma"])
    assert ok.sum() > 500
    solved = compute(model, g["call"][ok], S0, g["strike"][ok], t[ok], R, q, price=priced.price[ok])  # type: ignore[arg-type]
    theirs = []
    for c, k, tt, p in zip(g["call"][ok], g["strike"][ok], t[ok], priced.price[ok], strict=True):
        flag = "c" if c else "p"
        if model == "bsm":
            theirs.append(vbsm_iv.implied_volatility(p, S0, k, tt, R, Q, flag))
        else:
            theirs.append(vb_iv.implied_volatility(p, S0, k, R, tt, flag))
    _assert_close(solved.iv, np.array(theirs), _floors(spot[ok])["iv"], f"iv vs vollib {model}")


# ---------------------------------------------------------------------------------------------
# implied volatility
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["bsm", "black76"])
def test_iv_round_trip(model: str) -> None:
    g = _grid(DAYS + (ONE_HOUR * 365.0, 2.0 * 365.0))
    t = g["days"] / 365.0
    spot = np.full(t.size, S0)
    q = Q if model == "bsm" else 0.0
    priced = compute(model, g["call"], S0, g["strike"], t, R, q, iv=g["sigma"])  # type: ignore[arg-type]
    solved = compute(model, g["call"], S0, g["strike"], t, R, q, price=priced.price)  # type: ignore[arg-type]
    ok = _well_posed(priced, g["call"], spot, g["strike"], t, R, q, model, g["sigma"])
    assert ok.sum() > 600
    assert all(solved.error[i] is None for i in np.flatnonzero(ok))
    _assert_close(solved.iv[ok], g["sigma"][ok], _floors(spot[ok])["iv"], "round-trip iv")
    # Greeks at the solved vol are the Greeks at the true vol
    floors = _floors(spot[ok])
    for f in FIELDS:
        _assert_close(getattr(solved, f)[ok], getattr(priced, f)[ok], floors[f], f"round-trip {f}")
    # the items that are not well posed either solve or say why; never a made-up number
    for i in np.flatnonzero(~ok):
        if solved.error[i] is None:
            assert np.isfinite(solved.iv[i])
            repriced = compute(
                model, g["call"][i : i + 1], S0, g["strike"][i], t[i], R, q, iv=solved.iv[i : i + 1]
            )  # type: ignore[arg-type]
            assert repriced.price[0] == pytest.approx(priced.price[i], rel=1e-9, abs=1e-12 * S0)
        else:
            assert np.isnan(solved.iv[i])


def test_iv_from_quantlib_prices() -> None:
    g = _grid()
    rows = [
        _ql_engine_bsm(bool(c), S0, float(k), int(d), R, Q, float(sig))
        for c, k, d, sig in zip(g["call"], g["strike"], g["days"], g["sigma"], strict=True)
    ]
    ql_price = np.array([row["price"] for row in rows])
    t = g["days"] / 365.0
    spot = np.full(t.size, S0)
    priced = compute("bsm", g["call"], S0, g["strike"], t, R, Q, iv=g["sigma"])
    ok = _well_posed(priced, g["call"], spot, g["strike"], t, R, Q, "bsm", g["sigma"])
    solved = compute("bsm", g["call"][ok], S0, g["strike"][ok], t[ok], R, Q, price=ql_price[ok])
    _assert_close(solved.iv, g["sigma"][ok], _floors(spot[ok])["iv"], "iv of QuantLib prices")


def test_sub_day_and_extreme_vols_solve() -> None:
    # strikes from -3 to +3 standard deviations around the forward, calls and puts
    z = np.repeat(np.linspace(-3.0, 3.0, 13), 2)
    call = np.tile(np.array([True, False]), 13)
    for t, sigma in [(ONE_HOUR, 0.05), (ONE_HOUR, 1.5), (2 / 365, 3.0), (1.0, 5.0), (0.5, 0.01)]:
        strike = S0 * np.exp((R - Q) * t + z * sigma * math.sqrt(t))
        sig = np.full(strike.size, sigma)
        priced = compute("bsm", call, S0, strike, t, R, Q, iv=sig)
        solved = compute("bsm", call, S0, strike, t, R, Q, price=priced.price)
        assert solved.error == [None] * strike.size, (t, sigma, solved.error)
        np.testing.assert_allclose(solved.iv, sig, rtol=1e-9)


def test_put_call_parity_and_iv_agreement() -> None:
    rng = np.random.default_rng(20250115)
    n = 300
    spot = rng.uniform(50.0, 150.0, n)
    strike = spot * rng.uniform(0.7, 1.3, n)
    t = rng.uniform(1.0 / 365.0, 1.0, n)
    r = rng.uniform(-0.01, 0.12, n)
    q = rng.uniform(0.0, 0.05, n)
    sigma = rng.uniform(0.05, 1.0, n)
    calls = compute("bsm", np.ones(n, dtype=bool), spot, strike, t, r, q, iv=sigma)
    puts = compute("bsm", np.zeros(n, dtype=bool), spot, strike, t, r, q, iv=sigma)
    disc = np.exp(-r * t)
    fwd = spot * np.exp((r - q) * t)
    parity_gap = (calls.price - puts.price - disc * (fwd - strike)) / spot
    np.testing.assert_allclose(parity_gap, 0.0, rtol=0, atol=1e-14)
    np.testing.assert_allclose(calls.delta - puts.delta, np.exp(-q * t), rtol=0, atol=1e-14)
    np.testing.assert_allclose(calls.gamma, puts.gamma, rtol=1e-14)
    np.testing.assert_allclose(calls.vega, puts.vega, rtol=1e-14)
    # IV from a call price and from the parity-consistent put price agree
    put_price = calls.price - disc * (fwd - strike)
    iv_call = compute("bsm", np.ones(n, dtype=bool), spot, strike, t, r, q, price=calls.price)
    iv_put = compute("bsm", np.zeros(n, dtype=bool), spot, strike, t, r, q, price=put_price)
    ok = _well_posed(calls, np.ones(n, dtype=bool), spot, strike, t, r, q, "bsm", sigma)  # type: ignore[arg-type]
    ok &= _well_posed(puts, np.zeros(n, dtype=bool), spot, strike, t, r, q, "bsm", sigma)  # type: ignore[arg-type]
    assert ok.sum() > 200
    np.testing.assert_allclose(iv_call.iv[ok], iv_put.iv[ok], rtol=1e-9)
    np.testing.assert_allclose(iv_call.iv[ok], sigma[ok], rtol=1e-9)


def test_bounds_use_the_discounted_forward_not_spot_minus_strike() -> None:
    # European put, r = 10 %, 1 year: e^{-rT}K - S = 99.53 - 100 < 0, so any positive price
    # above e^{-rT} max(K - F, 0) = 0 is valid although it is below K - S = 10.
    res = compute("bsm", np.array([False]), 100.0, 110.0, 1.0, 0.10, price=np.array([8.0]))
    assert res.error == [None]
    assert 0.0 < res.iv[0] < 1.0
    # a call with a dividend yield: F < S, a price below S - K but above e^{-rT}(F - K) is valid
    res = compute("bsm", np.array([True]), 100.0, 90.0, 1.0, 0.0, 0.08, price=np.array([9.0]))
    assert res.error == [None]
    # ... and a price below e^{-rT}(F - K) is not
    fwd = 100.0 * math.exp(-0.08)
    res = compute(
        "bsm", np.array([True]), 100.0, 90.0, 1.0, 0.0, 0.08, price=np.array([fwd - 90.0 - 0.01])
    )
    assert res.error == ["price at or below discounted intrinsic value"]


# ---------------------------------------------------------------------------------------------
# error handling
# ---------------------------------------------------------------------------------------------


def _assert_all_nan(res: GreeksResult, i: int) -> None:
    for f in ("price", "iv", *FIELDS[1:]):
        assert np.isnan(getattr(res, f).ravel()[i]), f


def test_mixed_batch_errors_do_not_leak() -> None:
    t, r, q = 30 / 365, 0.065, 0.01
    fwd = 100.0 * math.exp((r - q) * t)
    disc = math.exp(-r * t)
    good = compute("bsm", np.array([True]), 100.0, 100.0, t, r, q, iv=np.array([0.2]))
    cases: list[tuple[bool, float, float, float, str | None]] = [
        # (is_call, strike, t, price, expected error)
        (True, 100.0, t, float(good.price[0]), None),
        (True, 90.0, t, disc * (fwd - 90.0) - 0.01, "price at or below discounted intrinsic value"),
        (True, 90.0, t, disc * (fwd - 90.0), "price at or below discounted intrinsic value"),
        (
            False,
            120.0,
            t,
            disc * (120.0 - fwd) * 0.999,
            "price at or below discounted intrinsic value",
        ),
        (True, 100.0, 0.0, 2.0, "t_years must be > 0"),
        (True, 100.0, -0.1, 2.0, "t_years must be > 0"),
        (True, 100.0, float("nan"), 2.0, "t_years must be finite"),
        (True, 100.0, t, 0.0, "missing or zero price"),
        (True, 100.0, t, float("nan"), "missing or zero price"),
        (False, 100.0, t, -1.0, "negative price"),
        (True, 100.0, t, 100.0, "price at or above the no-arbitrage upper bound"),
        (True, 100.0, t, float("inf"), "price at or above the no-arbitrage upper bound"),
        (False, 100.0, t, 100.0 * disc, "price at or above the no-arbitrage upper bound"),
        (True, 100.0, t, 99.0, "no solution within volatility bounds"),  # sigma far above 10
        (True, fwd, t, 1e-9, "no solution within volatility bounds"),  # sigma ~ 1e-10
        (False, 100.0, t, float(good.price[0]) - disc * (fwd - 100.0), None),
    ]
    call = np.array([c[0] for c in cases])
    strike = np.array([c[1] for c in cases])
    tt = np.array([c[2] for c in cases])
    price = np.array([c[3] for c in cases])
    res = compute("bsm", call, 100.0, strike, tt, r, q, price=price)
    assert res.error == [c[4] for c in cases]
    for i, c in enumerate(cases):
        if c[4] is None:
            alone = compute(
                "bsm", call[i : i + 1], 100.0, strike[i], tt[i], r, q, price=price[i : i + 1]
            )
            for f in ("price", "iv", *FIELDS[1:]):
                np.testing.assert_allclose(getattr(res, f)[i], getattr(alone, f)[0], rtol=1e-14)
            np.testing.assert_allclose(res.iv[i], 0.2, rtol=1e-9)
        else:
            _assert_all_nan(res, i)


def test_iv_input_errors() -> None:
    res = compute(
        "black76",
        np.array([True, True, False, True, True, True, True]),
        np.array([100.0, 100.0, 100.0, -5.0, 100.0, 100.0, 100.0]),
        np.array([100.0, 100.0, 100.0, 100.0, 0.0, 100.0, 100.0]),
        np.array([0.5, 0.0, 0.5, 0.5, 0.5, 0.5, 0.5]),
        0.065,
        iv=np.array([0.2, 0.2, -0.1, 0.2, 0.2, float("nan"), 0.0]),
    )
    assert res.error == [
        None,
        "t_years must be > 0",
        "iv must be a finite number > 0",
        "spot must be a finite number > 0",
        "strike must be a finite number > 0",
        "missing volatility",
        "iv must be a finite number > 0",
    ]
    assert np.isfinite(res.price[0]) and np.isfinite(res.gamma[0])
    for i in range(1, 7):
        _assert_all_nan(res, i)


def test_shapes_scalars_and_broadcasting() -> None:
    strikes = np.array([[90.0, 95.0, 100.0, 105.0]])
    ts = np.array([[7 / 365], [30 / 365], [0.0]])
    res = compute("bsm", np.array(True), 100.0, strikes, ts, 0.065, iv=0.2)
    assert res.price.shape == (3, 4) and res.rho.shape == (3, 4)
    assert res.price.dtype == np.float64
    assert len(res.error) == 12
    assert res.error[:8] == [None] * 8 and res.error[8:] == ["t_years must be > 0"] * 4
    one = compute("bsm", True, 100.0, 100.0, 30 / 365, 0.065, iv=0.2)
    assert one.price.shape == () and one.error == [None]
    assert float(one.price) == pytest.approx(float(res.price[1, 2]), rel=1e-15)
    empty = compute(
        "bsm", np.array([], dtype=bool), 100.0, np.array([]), 0.5, 0.065, price=np.array([])
    )
    assert empty.price.shape == (0,) and empty.error == []


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        compute("bsm", np.array([True]), 100.0, 100.0, 0.5, 0.065)
    with pytest.raises(ValueError, match="exactly one"):
        compute("bsm", np.array([True]), 100.0, 100.0, 0.5, 0.065, iv=0.2, price=1.0)
    with pytest.raises(ValueError, match="model"):
        compute("heston", np.array([True]), 100.0, 100.0, 0.5, 0.065, iv=0.2)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="boolean"):
        compute("bsm", np.array(["CE"]), 100.0, 100.0, 0.5, 0.065, iv=0.2)


def test_inputs_are_not_modified() -> None:
    price = np.array([5.0, float("nan"), 1e-30])
    strike = np.array([100.0, 100.0, 100.0])
    before = price.copy()
    res = compute("bsm", np.array([True, True, True]), 100.0, strike, 0.5, 0.065, price=price)
    np.testing.assert_array_equal(price, before)
    assert res.price[0] == 5.0


# ---------------------------------------------------------------------------------------------
# a realistic chain (the benchmark's input)
# ---------------------------------------------------------------------------------------------


def test_nifty_like_chain() -> None:
    spot = 26000.0
    strikes = np.arange(21000.0, 31001.0, 50.0)
    atm = int(np.searchsorted(strikes, spot))
    ks = strikes[atm - 100 : atm + 100]
    m = np.log(ks / spot)
    vol = np.clip(0.12 - 0.1 * m + 0.5 * m * m, 0.10, 0.20)
    call = np.repeat(np.array([True, False]), ks.size)
    strike = np.tile(ks, 2)
    sigma = np.tile(vol, 2)
    t = 7 / 365
    priced = compute("bsm", call, spot, strike, t, 0.065, iv=sigma)
    solved = compute("bsm", call, spot, strike, t, 0.065, price=priced.price)
    spots = np.full(call.size, spot)
    ok = _well_posed(priced, call, spots, strike, np.full(call.size, t), 0.065, 0.0, "bsm", sigma)
    assert ok.sum() > 100
    np.testing.assert_allclose(solved.iv[ok], sigma[ok], rtol=1e-9)
    # deep in-the-money legs whose time value is below the rounding of their price say so
    for i in np.flatnonzero(~ok):
        assert (
            solved.error[i] is None
            or solved.error[i] == "price at or below discounted intrinsic value"
        )


@pytest.mark.parametrize("model", ["bsm", "black76"])
def test_random_inputs_never_make_up_numbers(model: str) -> None:
    """Fuzz over wide ranges: every item is either a finite, self-consistent answer or an error."""
    rng = np.random.default_rng(7)
    n = 4000
    call = rng.random(n) < 0.5
    spot = np.exp(rng.uniform(np.log(1.0), np.log(1e5), n))
    strike = spot * np.exp(rng.normal(0.0, 0.4, n))
    t = np.exp(rng.uniform(np.log(1.0 / (365 * 86400)), np.log(30.0), n))
    r = rng.uniform(-0.05, 0.3, n)
    q = rng.uniform(0.0, 0.2, n)
    sigma = np.exp(rng.uniform(np.log(0.005), np.log(8.0), n))
    priced = compute(model, call, spot, strike, t, r, q, iv=sigma)  # type: ignore[arg-type]
    assert priced.error == [None] * n
    for f in ("price", *FIELDS[1:]):
        assert np.all(np.isfinite(getattr(priced, f))), f
    # some garbage mixed in: the price path must classify, never crash or warn
    price = priced.price.copy()
    price[::97] = np.nan
    price[1::101] = -price[1::101]
    price[2::89] = 0.0
    solved = compute(model, call, spot, strike, t, r, q, price=price)  # type: ignore[arg-type]
    for i in range(n):
        if solved.error[i] is None:
            assert (
                np.isfinite(solved.iv[i]) and greeks.SIGMA_MIN <= solved.iv[i] <= greeks.SIGMA_MAX
            )
        else:
            assert np.isnan(solved.iv[i]) and np.isnan(solved.delta[i])
    ok = np.array([e is None for e in solved.error])
    well = _well_posed(priced, call, spot, strike, t, r, q, model, sigma)  # type: ignore[arg-type]
    well &= np.isfinite(price) & (price > 0.0)
    assert well.sum() > 1000
    assert ok[well].all()
    repriced = compute(model, call[ok], spot[ok], strike[ok], t[ok], r[ok], q[ok], iv=solved.iv[ok])  # type: ignore[arg-type]
    _assert_close(repriced.price, price[ok], FLOOR * spot[ok], "fuzz reprice")
    np.testing.assert_allclose(solved.iv[well], sigma[well], rtol=1e-9)
