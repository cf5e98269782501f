"""Opening a 4-leg strategy against opening one leg, over HTTP on loopback.

One simulated market-data service and one order service on a scratch database (PostgreSQL
beside `BENCH_DATABASE_URL`, else SQLite). Each run alternates, one request at a time, a
single-leg MARKET order (`POST /v1/orders`: one quote, one transaction) and an iron condor by
offsets (`POST /v1/strategies`: one chain request, one transaction of four orders and positions,
the basket margined), so both see the same machine load. The figure that matters is the ratio of
the medians within each run: a 4-leg open must cost at most twice a single-leg one.
`BENCH_QUICK=1` runs fewer, shorter rounds.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.bench_export import scratch_database  # noqa: E402
from bench.bench_orders import API_KEY, MARKET_DATA, ORDERS, listed_option  # noqa: E402
from bench.stats import figure, percentile  # noqa: E402

QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
RUNS = 2 if QUICK else 5
OPENS = 15 if QUICK else 40  # of each kind per run, alternating
GOAL_RATIO = 2.0
CONDOR = [
    ("SELL", "OTM2", "CE"),
    ("SELL", "OTM2", "PE"),
    ("BUY", "OTM6", "CE"),
    ("BUY", "OTM6", "PE"),
]


@contextmanager
def stack(database_url: str, logs: Path) -> Iterator[dict[str, str]]:
    from tests.support.processes import ServiceProcess

    with ExitStack() as started:

        def service(factory: str, name: str, **env: str) -> str:
            env = {"APP_ENV": "test", "LOG_LEVEL": "WARNING", "ALLOW_OFF_HOURS_ORDERS": "true",
                   "ORDER_ACCOUNT_CAPITAL": "100000000000",
                   **env}  # fmt: skip
            process = ServiceProcess(factory, env=env, log_path=logs / f"{name}.log")
            started.callback(process.stop)
            process.start(timeout=120)
            return process.url

        market = service(MARKET_DATA, "market-data")
        orders = service(
            ORDERS, "order", DATABASE_URL=database_url, API_KEY=API_KEY,
            MARKET_DATA_CLIENT_PRIMARY_URL=market, MARKET_DATA_CLIENT_FALLBACK_URL="",
            MARKET_DATA_CLIENT_READ_TIMEOUT="5",
        )  # fmt: skip
        yield {"market-data": market, "order": orders}


def _bodies(market_url: str) -> tuple[dict[str, Any], dict[str, Any]]:
    order = listed_option(market_url)
    signal = {k: order[k] for k in ("ml_score", "model_version", "model_hash", "features_snapshot")}
    strategy = {
        "strategy": "iron_condor", "underlying": "NIFTY", "expiry": order["expiry"],
        "legs": [{"side": s, "offset": o, "option_type": t, "lots": 1} for s, o, t in CONDOR],
        **signal,
    }  # fmt: skip
    return order, strategy


def _one_run(client: Any, order: dict[str, Any], strategy: dict[str, Any]) -> dict[str, float]:
    single, four = [], []
    for _ in range(OPENS):
        for url, body, into in (("/v1/orders", order, single), ("/v1/strategies", strategy, four)):
            started = time.perf_counter()
            answer = client.post(url, json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
            into.append((time.perf_counter() - started) * 1e3)
            if answer.status_code != 201:
                raise RuntimeError(f"{url}: {answer.status_code} {answer.text[:300]}")
    return {"single": percentile(single, 0.5), "four": percentile(four, 0.5)}


def run() -> list[dict[str, Any]]:
    import httpx

    with (
        scratch_database() as database_url,
        tempfile.TemporaryDirectory(prefix="bench-strategies-") as folder,
        stack(database_url, Path(folder)) as urls,
    ):
        order, strategy = _bodies(urls["market-data"])
        headers = {"Authorization": f"Bearer {API_KEY}"}
        with httpx.Client(base_url=urls["order"], headers=headers, timeout=60) as client:
            _one_run(client, order, strategy)  # warm-up: connections, caches, the calendar
            runs = [_one_run(client, order, strategy) for _ in range(RUNS)]
    ratios = [r["four"] / r["single"] for r in runs]
    return [
        figure("POST /v1/orders (one leg) latency p50, sequential", "ms",
               [r["single"] for r in runs]),
        figure("POST /v1/strategies (iron condor, 4 legs) latency p50, sequential", "ms",
               [r["four"] for r in runs]),
        figure("4-leg strategy open p50 / single-leg open p50", "x", ratios,
               goal=f"<= {GOAL_RATIO:g}x", goal_met=statistics.median(ratios) <= GOAL_RATIO),
    ]  # fmt: skip


if __name__ == "__main__":
    for found in run():
        print(found)
