"""Black-76 against vollib's Black (an independent implementation) and against the formula."""

from __future__ import annotations

import math

import numpy as np
import pytest
from vollib.black import black as vollib_black

from order_service.domain.black76 import black76_price


def _by_hand(
    forward: float, strike: float, t: float, sigma: float, rate: float, call: bool
) -> float:
    """The formula written out with math.erf, one option at a time."""
    n = lambda x: 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))  # noqa: E731
    s = sigma * math.sqrt(t)
    d1 = (math.log(forward / strike) + s * s / 2) / s
    d2 = d1 - s
    if call:
        return math.exp(-rate * t) * (forward * n(d1) - strike * n(d2))
    return math.exp(-rate * t) * (strike * n(-d2) - forward * n(-d1))


def test_an_atm_weekly_call_is_worth_what_the_formula_says() -> None:
    # F 23 126.3, K 23 100, 3 days, 14 %, 6.5 %: s = 0.14 √(3/365) = 0.012693,
    # d1 = (ln(23126.3/23100) + s²/2) / s = 0.0960, d2 = 0.0833, N(d1) = 0.53824, N(d2) = 0.53320:
    # e^{-rT} (23126.3 × 0.53824 - 23100 × 0.53320) ≈ 130.6
    expected = _by_hand(23126.3, 23100.0, 3 / 365, 0.14, 0.065, True)
    assert black76_price(23126.3, 23100.0, 3 / 365, 0.14, 0.065, True) == pytest.approx(
        expected, rel=1e-12
    )
    assert 130 < expected < 131


@pytest.mark.parametrize("call", [True, False])
def test_a_grid_of_options_matches_vollib_black(call: bool) -> None:
    strikes = np.arange(21000.0, 25001.0, 250.0)
    for t in (1 / 365, 7 / 365, 90 / 365):
        for sigma in (0.08, 0.14, 0.35):
            ours = black76_price(23114.1, strikes, t, sigma, 0.065, call)
            flag = "c" if call else "p"
            theirs = [vollib_black(flag, 23114.1, k, t, 0.065, sigma) for k in strikes]
            np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-9)


def test_calls_and_puts_keep_put_call_parity_on_the_forward() -> None:
    strikes = np.array([22000.0, 23100.0, 24500.0])
    t, r, f = 10 / 365, 0.065, 23200.0
    call = black76_price(f, strikes, t, 0.15, r, True)
    put = black76_price(f, strikes, t, 0.15, r, False)
    np.testing.assert_allclose(call - put, math.exp(-r * t) * (f - strikes), atol=1e-9)


def test_at_expiry_or_zero_volatility_the_premium_is_discounted_intrinsic_value() -> None:
    strikes = np.array([22900.0, 23100.0, 23300.0])
    at_expiry = black76_price(23114.1, strikes, 0.0, 0.14, 0.065, [True, True, False])
    np.testing.assert_allclose(at_expiry, [214.1, 14.1, 185.9], atol=1e-9)
    no_vol = black76_price(23114.1, strikes, 0.5, 0.0, 0.065, False)
    np.testing.assert_allclose(no_vol, math.exp(-0.065 * 0.5) * np.array([0, 0, 185.9]), atol=1e-9)
    assert np.all(np.isfinite(black76_price(23114.1, strikes, -1.0, 0.14, 0.065, True)))
