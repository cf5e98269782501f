"""Market-data API against a real uvicorn process on loopback: `POST /v1/greeks` throughput with
batches of 1,000 and 10,000 items (IV solved from prices, then Greeks), and the latency of the
NIFTY chain and of one quote (what the order service asks for on every fill).

Bodies are serialised once before timing, so the figures are the server's work plus one
loopback round trip. Chain requests step through the minutes of a session: each one is a new
market state (built, priced, serialised), not a cache hit. Bounded loops only.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/bench_market_data_api.py` as well as `-m bench`
    sys.path.insert(0, str(ROOT))

from bench.stats import figure  # noqa: E402
from tests.support.processes import ServiceProcess  # noqa: E402

FACTORY = "market_data_service.main:create_app"
SESSION_DAY = "2025-12-02"
GREEKS_RUNS = {1_000: 40, 10_000: 12}
GREEKS_GOAL = 50_000  # items/s for 10,000-item batches
CHAIN_RUNS = 60
CHAIN_GOAL_MS = 50.0
QUOTE_RUNS = 100


def greeks_body(n: int, seed: int = 7) -> bytes:
    """A realistic batch: NIFTY-like strikes around spot, prices from a smile, solve for IV."""
    rng = np.random.default_rng(seed)
    spot = 26000.0
    strikes = spot * rng.uniform(0.9, 1.1, n)
    t_years = rng.uniform(1, 90, n) / 365
    is_call = rng.random(n) < 0.5
    from market_data_service import greeks

    sigma = 0.11 + 0.3 * np.abs(np.log(strikes / spot))
    prices = greeks.compute("bsm", is_call, spot, strikes, t_years, 0.065, iv=sigma).price
    items = [
        {"option_type": "CE" if c else "PE", "spot": spot, "strike": round(float(k), 2),
         "t_years": float(t), "rate": 0.065, "price": max(round(float(p), 2), 0.05)}
        for c, k, t, p in zip(is_call, strikes, t_years, prices, strict=True)
    ]  # fmt: skip
    return json.dumps({"model": "bsm", "items": items}).encode()


def _timed(call: Any, runs: int, warmup: int = 3) -> list[float]:
    for _ in range(warmup):
        call(0)
    samples = []
    for i in range(runs):
        started = time.perf_counter()
        call(i)
        samples.append(time.perf_counter() - started)
    return samples


def _greeks_figures(client: httpx.Client) -> list[dict[str, Any]]:
    figures = []
    headers = {"content-type": "application/json"}
    for n, runs in GREEKS_RUNS.items():
        body = greeks_body(n)

        def post(_: int, body: bytes = body, n: int = n) -> None:
            response = client.post("/v1/greeks", content=body, headers=headers)
            response.raise_for_status()
            assert response.content.count(b'"error"') == n

        samples = _timed(post, runs)
        rates = [n / s for s in samples]
        name = f"POST /v1/greeks, {n:,} items per request"
        if n == 10_000:
            met = statistics.median(rates) >= GREEKS_GOAL
            figures.append(figure(name, "items/s", rates, goal=f">= {GREEKS_GOAL:,}", goal_met=met))
        else:
            figures.append(figure(name, "items/s", rates))
        latency_ms = [s * 1e3 for s in samples]
        figures.append(figure(f"POST /v1/greeks, {n:,} items: latency", "ms", latency_ms))
    return figures


def _chain_and_quote_figures(client: httpx.Client) -> list[dict[str, Any]]:
    def minute(i: int) -> str:
        return f"{SESSION_DAY}T{10 + i // 60:02d}:{i % 60:02d}:00+05:30"

    def chain(i: int) -> None:
        client.get("/v1/chain/NIFTY", params={"as_of": minute(i)}).raise_for_status()

    chain_ms = [s * 1e3 for s in _timed(chain, CHAIN_RUNS)]
    listed = client.get("/v1/underlyings", params={"as_of": minute(0)}).json()["underlyings"]
    nifty = next(u for u in listed if u["name"] == "NIFTY")
    strike = round(nifty["spot"] / 50) * 50
    expiry = nifty["expiries"][1]["expiry"]

    def quote(i: int) -> None:
        params = {"as_of": minute(i % 300), "expiry": expiry, "strike": strike, "option_type": "CE"}
        client.get("/v1/quote/NIFTY", params=params).raise_for_status()

    quote_ms = [s * 1e3 for s in _timed(quote, QUOTE_RUNS)]

    def warm_quote(_: int) -> None:
        params = {"as_of": minute(0), "expiry": expiry, "strike": strike, "option_type": "CE"}
        client.get("/v1/quote/NIFTY", params=params).raise_for_status()

    warm_ms = [s * 1e3 for s in _timed(warm_quote, QUOTE_RUNS)]

    def health(_: int) -> None:
        client.get("/healthz").raise_for_status()

    floor_ms = [s * 1e3 for s in _timed(health, QUOTE_RUNS)]
    median_chain = statistics.median(chain_ms)
    return [
        figure("GET /v1/chain/NIFTY (81 strikes x CE/PE, new minute each call)", "ms", chain_ms,
               goal=f"p50 < {CHAIN_GOAL_MS:g} ms", goal_met=median_chain < CHAIN_GOAL_MS),
        figure("GET /v1/quote/NIFTY (one option, new minute each call: cold chain)", "ms",
               quote_ms),
        figure("GET /v1/quote/NIFTY (one option, same minute: chain and Greeks cached)", "ms",
               warm_ms),
        figure("GET /healthz (the HTTP round-trip floor of the same client and server)", "ms",
               floor_ms),
    ]  # fmt: skip


def run() -> list[dict[str, Any]]:
    """Start one simulated market-data process, measure, stop it."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {"APP_ENV": "test", "MARKET_DATA_PROVIDER": "simulated", "MARKET_DATA_FAULT": "none",
               "LOG_LEVEL": "WARNING"}  # fmt: skip
        service = ServiceProcess(FACTORY, env=env, log_path=Path(tmp) / "market-data.log")
        with service, httpx.Client(base_url=service.url, timeout=httpx.Timeout(60.0)) as client:
            return _greeks_figures(client) + _chain_and_quote_figures(client)


if __name__ == "__main__":
    for result in run():
        print(
            f"{result['name']}: median {result['median']:,.1f} {result['unit']} "
            f"(p10 {result['p10']:,.1f}, p90 {result['p90']:,.1f}, {result['runs']} runs)"
            + (
                f"  goal {result['goal']}: {'met' if result['goal_met'] else 'NOT met'}"
                if "goal" in result
                else ""
            )  # fmt: skip
        )
