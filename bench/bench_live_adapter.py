"""Live adapter against the fake OpenAlgo server (a real uvicorn process on loopback serving the
real NSE snapshot of 02-Dec-2025 09:34:45 IST, 1,000+ legs across expiries, ~200 strikes in the
benchmarked expiry):

- the adapter's work per chain: normalising one `/optionchain` answer (units -> contracts, all
  zero legs, broker Greeks) and recording it (one gzip member appended), as CPU time;
- a chain fetched through the adapter (HTTP to the fake, normalise, India VIX quote in parallel,
  recording handed to a thread) against the same `/optionchain` request made raw, paired run by
  run: the difference is what the adapter and its VIX quote add to one upstream round trip;
- callers served per upstream request: rounds of 50 concurrent quote requests to a market-data
  process on the fake, each round after the chain cache expired; the fake counts what it was
  asked. Bounded loops only.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/bench_live_adapter.py` as well as `-m bench`
    sys.path.insert(0, str(ROOT))

from bench.stats import figure  # noqa: E402
from market_data_service.providers.live.http import UpstreamClient  # noqa: E402
from market_data_service.providers.live.openalgo import OpenAlgoUpstream, parse_chain  # noqa: E402
from market_data_service.providers.live.provider import LiveProvider  # noqa: E402
from market_data_service.providers.live.units import openalgo_expiry  # noqa: E402
from market_data_service.providers.recording import Recorder  # noqa: E402
from optrade.instruments import get_instruments  # noqa: E402
from tests.support.fake_brokers.nse_source import shift_for_today  # noqa: E402
from tests.support.fake_brokers.processes import (  # noqa: E402
    MARKET_DATA,
    OPENALGO_KEY,
    SNAPSHOT,
    fake_broker,
    live_env,
)
from tests.support.processes import ServiceProcess  # noqa: E402

EXPIRY = datetime(2025, 12, 9).date() + timedelta(days=shift_for_today(SNAPSHOT))
PARSE_RUNS = 60
FETCH_RUNS = 30
ROUNDS = 10
CALLERS = 50
CACHE_SECONDS = 1.0
ADAPTER_GOAL_MS = 5.0  # our CPU per chain (normalise + record) next to the upstream's seconds


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def _cpu_ms(start: float) -> float:
    return (time.thread_time() - start) * 1000


def _cpu_figures(answer: dict[str, Any], tmp: Path) -> list[dict[str, Any]]:
    """CPU time of this thread (not wall time: the machine is shared, other load is not ours)."""
    parse, record = [], []
    recorder = Recorder(tmp, provider="openalgo", instance="bench")
    for _ in range(PARSE_RUNS):
        start = time.thread_time()
        chain = parse_chain(answer, "NIFTY", EXPIRY, 75)
        parse.append(_cpu_ms(start))
        start = time.thread_time()
        recorder.append(chain, datetime.now(UTC))
        record.append(_cpu_ms(start))
    legs = sum((r.ce is not None) + (r.pe is not None) for r in chain.rows)
    total = [p + r for p, r in zip(parse, record, strict=True)]
    return [
        figure(f"normalise one OpenAlgo chain ({legs} legs)", "ms CPU", parse),
        figure("record one chain (gzip member appended)", "ms CPU", record),
        figure(
            "adapter CPU per chain (normalise + record)",
            "ms CPU",
            total,
            goal=f"< {ADAPTER_GOAL_MS:g} ms",
            goal_met=statistics.median(total) < ADAPTER_GOAL_MS,
        ),  # fmt: skip
    ]


async def _fetch_figures(url: str, tmp: Path) -> list[dict[str, Any]]:
    body = {"apikey": OPENALGO_KEY, "underlying": "NIFTY", "exchange": "NSE_INDEX",
            "expiry_date": openalgo_expiry(EXPIRY), "with_greeks": True}  # fmt: skip
    client = UpstreamClient("openalgo", url, secrets=[OPENALGO_KEY])
    provider = LiveProvider(
        OpenAlgoUpstream(client, OPENALGO_KEY, strike_count=None), instance="bench",
        instruments=get_instruments(), cache_seconds=1e-9, max_quote_age=60,
        recorder=Recorder(tmp, provider="openalgo", instance="bench"), history=None,
    )  # fmt: skip
    raw, adapted = [], []
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        answer = (await http.post("/api/v1/optionchain", json=body)).json()
        for _ in range(FETCH_RUNS):
            start = time.perf_counter()
            (await http.post("/api/v1/optionchain", json=body)).json()
            raw.append(_ms(start))
            start = time.perf_counter()
            await provider.achain("NIFTY", EXPIRY, datetime.now(UTC))
            adapted.append(_ms(start))
    await provider.aclose()
    overhead = [a - r for a, r in zip(adapted, raw, strict=True)]
    return [
        figure("raw /optionchain round trip (fake OpenAlgo)", "ms", raw),
        figure("chain through the adapter (+ VIX quote, record)", "ms", adapted),
        figure(
            "adapter + its concurrent VIX quote over the raw request (paired)", "ms", overhead
        ),  # fmt: skip
        *_cpu_figures(answer, tmp),
    ]


async def _burst(url: str, broker: str) -> list[dict[str, Any]]:
    params = {"expiry": EXPIRY.isoformat(), "strike": "26100", "option_type": "CE"}
    served, per_request = [], []
    limits = httpx.Limits(max_connections=CALLERS)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as http:
        await http.get("/v1/quote/NIFTY", params=params)  # warm: expiries listed, pool open
        for _ in range(ROUNDS):
            await asyncio.sleep(CACHE_SECONDS + 0.1)  # the cached chain has expired
            before = httpx.get(f"{broker}/_control").json()["counts"].get("optionchain", 0)
            start = time.perf_counter()
            answers = await asyncio.gather(
                *(http.get("/v1/quote/NIFTY", params=params) for _ in range(CALLERS))
            )
            elapsed = time.perf_counter() - start
            after = httpx.get(f"{broker}/_control").json()["counts"]["optionchain"]
            ok = sum(a.status_code == 200 for a in answers)
            per_request.append(ok / max(after - before, 1))
            served.append(ok / elapsed)
    return [
        figure(
            f"callers served per upstream chain request ({CALLERS} concurrent)",
            "callers",
            per_request,
            goal=f">= {CALLERS / 2:g}",
            goal_met=statistics.median(per_request) >= CALLERS / 2,
        ),  # fmt: skip
        figure(f"quotes/s, {CALLERS} concurrent callers on a cold chain", "quotes/s", served),
    ]


def run() -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        broker = fake_broker("openalgo").start()
        service = ServiceProcess(MARKET_DATA, env=live_env(
            "openalgo", broker.url, Path(tmp) / "service",
            OPENALGO_CACHE_SECONDS=str(CACHE_SECONDS)))  # fmt: skip
        try:
            service.start()
            figures = asyncio.run(_fetch_figures(broker.url, Path(tmp) / "adapter"))
            figures += asyncio.run(_burst(service.url, broker.url))
        finally:
            service.stop()
            broker.stop()
    return figures


if __name__ == "__main__":
    for item in run():
        print(item)
