"""Benchmark: the SPAN-like margin of a basket beside an account, and marking open positions.

* margin: a 4-leg iron butterfly basket checked against an account of 50 open NIFTY positions
  over three weekly expiries (shorts and longs, strikes 24000-28000), both the combined
  portfolio and the basket alone (``basket_margin``: netting, 16 scenarios x legs in one numpy
  pass each). Goal: <= 5 ms.
* mark-to-market: 1,000 open positions on three underlyings marked at the mid (some at the LTP),
  unrealized P&L and delta/gamma/theta/vega by underlying (``mark_to_market``). Goal: <= 20 ms.

Run: ``uv run python -m bench`` with ``BENCH=margin``; ``BENCH_QUICK=1`` runs fewer rounds.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import numpy as np

from bench.stats import figure
from optrade.domain import IST, OptionType
from order_service.domain.margin import MarketState, OptionLeg, basket_margin
from order_service.domain.mark_to_market import mark_to_market

QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
MARGIN_GOAL_MS = 5.0
MARK_GOAL_MS = 20.0
SPOT = 26000.0
AS_OF = datetime(2025, 12, 2, 11, 0, tzinfo=IST)
EXPIRIES = (date(2025, 12, 9), date(2025, 12, 16), date(2025, 12, 23))


def _account(rng: np.random.Generator, n: int = 50) -> list[OptionLeg]:
    strikes = rng.choice(np.arange(24000.0, 28001.0, 50.0), n)
    return [
        OptionLeg(
            expiry=EXPIRIES[int(rng.integers(len(EXPIRIES)))],
            strike=float(k),
            option_type=OptionType.CE if k >= SPOT else OptionType.PE,
            units=int(rng.choice([-1, 1]) * 75 * rng.integers(1, 4)),
            iv=float(rng.uniform(0.10, 0.18)),
            price=float(rng.uniform(5, 250)),
        )
        for k in strikes
    ]


def _butterfly() -> list[OptionLeg]:
    expiry = EXPIRIES[0]
    return [
        OptionLeg(expiry, 26000, OptionType.CE, -75, 0.12, 150.0),
        OptionLeg(expiry, 26000, OptionType.PE, -75, 0.12, 140.0),
        OptionLeg(expiry, 25700, OptionType.PE, 75, 0.13, 45.0),
        OptionLeg(expiry, 26300, OptionType.CE, 75, 0.12, 50.0),
    ]


def _positions(rng: np.random.Generator, n: int = 1000) -> dict[str, Any]:
    entry = rng.uniform(1, 500, n).round(2)
    bid = (entry + rng.normal(0, 20, n)).clip(0.05).round(2)
    ask = np.where(rng.random(n) < 0.1, np.nan, bid + 0.05)  # a tenth marked at the LTP
    greek = rng.uniform(-1, 1, n)
    return {
        "underlying": rng.choice(["NIFTY", "BANKNIFTY", "FINNIFTY"], n),
        "entry": entry,
        "units": 75 * rng.integers(1, 5, n),
        "side": rng.choice([1, -1], n),
        "bid": bid,
        "ask": ask,
        "ltp": bid,
        "delta": greek,
        "gamma": greek / 1000,
        "theta": -10 * np.abs(greek),
        "vega": 10 * np.abs(greek),
    }


def _timed(call: Callable[[], object], runs: int) -> list[float]:
    for _ in range(max(3, runs // 10)):  # warm-up: imports, numpy dispatch caches
        call()
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        call()
        samples.append((time.perf_counter() - t0) * 1e3)
    return samples


def run() -> list[dict[str, Any]]:
    """Measure and return the figures (milliseconds per call)."""
    rng = np.random.default_rng(22)
    account, basket = _account(rng), _butterfly()
    market = MarketState(spot=SPOT, as_of=AS_OF, rate=0.065)
    positions = _positions(rng)
    runs = 30 if QUICK else 300
    margin_ms = _timed(lambda: basket_margin(account, basket, market), runs)
    mark_ms = _timed(lambda: mark_to_market(**positions), runs)
    margin_median = float(np.median(margin_ms))
    mark_median = float(np.median(mark_ms))
    return [
        figure(
            "margin of a 4-leg basket against 50 open positions (combined and alone, 16 scenarios)",
            "ms",
            margin_ms,
            goal=f"<= {MARGIN_GOAL_MS:g} ms",
            goal_met=margin_median <= MARGIN_GOAL_MS,
        ),
        figure(
            "mark-to-market of 1,000 open positions (unrealized P&L, Greeks by underlying)",
            "ms",
            mark_ms,
            goal=f"<= {MARK_GOAL_MS:g} ms",
            goal_met=mark_median <= MARK_GOAL_MS,
        ),
    ]


if __name__ == "__main__":
    for fig in run():
        print(f"{fig['name']}: median {fig['median']:.3f} ms (goal {fig['goal']})")
