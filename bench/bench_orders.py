"""Order service over HTTP on loopback: open and close latency, round trips per second at a fixed
concurrency, the cost of capturing the exit snapshot, and what a dead primary costs once its
circuit breaker is open.

Processes: two simulated market-data instances (primary, fallback), a third one that hangs
(`MARKET_DATA_FAULT=hang`, a primary that accepts connections and never answers), and three order
services on one scratch database (PostgreSQL beside `BENCH_DATABASE_URL`, else SQLite):
`healthy` (primary + fallback), `no-capture` (`ORDER_CAPTURE_ENABLED=false`) and `dead-primary` (the
hanging primary + the fallback). The load comes from a separate process
(`python -m bench.bench_orders --driver`, an httpx async driver) so the client's own CPU is not
the server's. Every comparison is measured side by side in the same run. Bounded loops only.

On PostgreSQL the same run also starts the reference (`bench/reference/`: a minimal FastAPI app
on psycopg 3 async doing the same work against a minimal quote server, on the same scratch
database) and an order service with two uvicorn workers (`UVICORN_WORKERS=2`, what
`ORDER_WORKERS=2` starts in `make run`); their round trips alternate with the one-worker order
service's in every run, so each order-path figure comes with the reference's and their ratio.
`BENCH_QUICK=1` runs fewer, shorter rounds (for a quick check, not for the report).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/bench_orders.py` as well as `-m bench`
    sys.path.insert(0, str(ROOT))

from bench.bench_export import scratch_database  # noqa: E402
from bench.stats import figure, percentile  # noqa: E402

MARKET_DATA = "market_data_service.main:create_app"
ORDERS = "order_service.main:create_app"
API_KEY = "bench-api-key-0123456789abcdef"
REFERENCE_QUOTES = "bench.reference.quote_server:create_app"
REFERENCE = "bench.reference.app:create_app"
CONCURRENCY = 8
QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
RUNS = int(os.environ.get("BENCH_ORDERS_RUNS", "2" if QUICK else "5"))
ROUND_TRIPS = int(os.environ.get("BENCH_ORDERS_ROUND_TRIPS", "60" if QUICK else "150"))  # per run
CAPTURE_PAIRS = 20 if QUICK else 40  # closes per service per run, alternating, one at a time
BREAKER_CLOSES = 40 if QUICK else 80  # closes per service per run, interleaved, at CONCURRENCY
GOAL_CAPTURE_MS = 1.5
GOAL_VS_REFERENCE = 0.8  # round trips/s of the order service over the reference's, one worker
GOAL_CPU_VS_REFERENCE = 1.3  # order-service CPU per round trip over the reference's
GOAL_TWO_WORKERS = 1.6  # round trips/s with two workers over one
GOAL_DEAD_PRIMARY_RATIO = 1.2


# --- the load driver (runs in its own process) ------------------------------------------------


async def _drive(plan: dict[str, Any]) -> dict[str, Any]:
    """Run the plan's jobs with `concurrency` workers; latencies in ms by label."""
    import httpx

    headers = {"Authorization": f"Bearer {plan['api_key']}"}
    latencies: dict[str, list[float]] = {}
    opened: list[int] = []
    jobs: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for job in plan["jobs"]:
        jobs.put_nowait(job)
    limits = httpx.Limits(max_connections=plan["concurrency"] * 3)
    async with httpx.AsyncClient(headers=headers, timeout=30, limits=limits) as client:

        async def timed(label: str, url: str, body: dict[str, Any]) -> dict[str, Any]:
            started = time.perf_counter()
            response = await client.post(url, json=body)
            latencies.setdefault(label, []).append((time.perf_counter() - started) * 1e3)
            if response.status_code not in (200, 201):
                raise RuntimeError(f"{url}: {response.status_code} {response.text[:300]}")
            return dict(response.json())

        async def open_(base: str, label: str) -> int:
            body = {**plan["order"], "client_order_id": uuid.uuid4().hex}
            answer = await timed(label, f"{base}/v1/orders", body)
            # The order service answers the order (with `position_id`); the reference app, the
            # position itself.
            return int(answer.get("position_id") or answer["id"])

        async def worker() -> None:
            while not jobs.empty():
                job = jobs.get_nowait()
                if job["kind"] == "open":
                    opened.append(await open_(job["base"], job["label"]))
                elif job["kind"] == "close":
                    url = f"{job['base']}/v1/positions/{job['position']}/close"
                    await timed(job["label"], url, job.get("body", {}))
                else:  # round trip: open, then close it
                    position = await open_(job["base"], "open")
                    url = f"{job['base']}/v1/positions/{position}/close"
                    await timed("close", url, job.get("body", {}))

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(plan["concurrency"])))
        elapsed = time.perf_counter() - started
    return {"latencies_ms": latencies, "seconds": elapsed, "opened": opened}


def driver_main() -> None:
    plan = json.loads(sys.stdin.read())
    print(json.dumps(asyncio.run(_drive(plan))))


def drive(jobs: list[dict[str, Any]], concurrency: int, order: dict[str, Any]) -> dict[str, Any]:
    """Run jobs from the driver process and return what it measured."""
    plan = {"jobs": jobs, "concurrency": concurrency, "order": order, "api_key": API_KEY}
    done = subprocess.run(
        [sys.executable, "-m", "bench.bench_orders", "--driver"],
        input=json.dumps(plan),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"load driver failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


# --- the processes -------------------------------------------------------------------------------

PIDS: dict[str, int] = {}


def _children(pid: int) -> list[int]:
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return []
    found: list[int] = []
    for task in tasks:
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process and its live descendants (uvicorn workers) have used so
    far (Linux /proc), 0 where unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(cpu_seconds(child) for child in _children(pid))


@contextmanager
def stack(database_url: str, logs: Path) -> Iterator[dict[str, str]]:
    """Start the processes; yield the URLs of the order services (and market data) by name.

    `PIDS` maps the same names to the process ids while they run (for CPU accounting)."""
    from tests.support.processes import ServiceProcess

    with ExitStack() as started:

        def service(factory: str, name: str, **env: str) -> str:
            # Orders at "now" on the simulated market, whatever the hour the bench runs at.
            # A capital no bench can spend: the funds check runs on every open, never refuses.
            env = {
                "APP_ENV": "test", "LOG_LEVEL": "WARNING", "ALLOW_OFF_HOURS_ORDERS": "true",
                "ORDER_ACCOUNT_CAPITAL": "100000000000", **env
            }  # fmt: skip
            process = ServiceProcess(factory, env=env, log_path=logs / f"{name}.log")
            started.callback(process.stop)  # also when start() fails: stop() closes the log
            process.start(timeout=120)  # a busy machine starts processes slowly
            assert process.proc is not None
            PIDS[name] = process.proc.pid
            return process.url

        md = {
            name: service(MARKET_DATA, f"market-data-{name}", MARKET_DATA_FAULT=fault)
            for name, fault in (("primary", "none"), ("fallback", "none"), ("hanging", "hang"))
        }
        routes = {
            "healthy": (md["primary"], {}),
            "no-capture": (md["primary"], {"ORDER_CAPTURE_ENABLED": "false"}),
            "dead-primary": (md["hanging"], {}),
        }
        if database_url.startswith("postgres"):
            routes["two-workers"] = (md["primary"], {"UVICORN_WORKERS": "2"})
        urls = {"market-data": md["primary"]}
        for name, (primary, extra) in routes.items():
            urls[name] = service(
                ORDERS,
                f"order-{name}",
                DATABASE_URL=database_url,
                API_KEY=API_KEY,
                MARKET_DATA_CLIENT_PRIMARY_URL=primary,
                MARKET_DATA_CLIENT_FALLBACK_URL=md["fallback"],
                # A busy machine can take longer than the production 0.5 s to answer a quote;
                # a healthy provider must not fall back here. The hanging one still times out.
                MARKET_DATA_CLIENT_READ_TIMEOUT="2",
                **extra,
            )
        if database_url.startswith("postgres"):
            quotes = service(REFERENCE_QUOTES, "reference-quotes")
            plain_url = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
            urls["reference"] = service(
                REFERENCE, "reference", REFERENCE_DATABASE_URL=plain_url,
                REFERENCE_QUOTE_URL=quotes,
            )  # fmt: skip
        yield urls


def listed_option(md_url: str) -> dict[str, Any]:
    """A NIFTY at-the-money call of the second listed expiry, as an order body."""
    import httpx

    underlyings = httpx.get(f"{md_url}/v1/underlyings", timeout=30).json()["underlyings"]
    nifty = next(u for u in underlyings if u["name"] == "NIFTY")
    return {
        "underlying": "NIFTY",
        "expiry": nifty["expiries"][1]["expiry"],
        "strike": round(nifty["spot"] / nifty["strike_step"]) * nifty["strike_step"],
        "option_type": "CE",
        "side": "BUY",
        "quantity": 1,
        "ml_score": 0.5,
        "model_version": "bench",
        "model_hash": "be7c4a11",
        "features_snapshot": {"bench": 1},
    }


# --- the measurements ---------------------------------------------------------------------------


def _measure(url: str, pid: int, order: dict[str, Any]) -> dict[str, float]:
    """One run of ROUND_TRIPS open+close round trips at CONCURRENCY against `url`."""
    before = cpu_seconds(pid)
    result = drive([{"kind": "round_trip", "base": url}] * ROUND_TRIPS, CONCURRENCY, order)
    opens, closes = result["latencies_ms"]["open"], result["latencies_ms"]["close"]
    return {
        "per_second": ROUND_TRIPS / result["seconds"],
        "cpu_ms": 1e3 * (cpu_seconds(pid) - before) / ROUND_TRIPS,
        "open_p50": percentile(opens, 0.5),
        "open_p99": percentile(opens, 0.99),
        "close_p50": percentile(closes, 0.5),
        "close_p99": percentile(closes, 0.99),
    }


def _round_trips(urls: dict[str, str], order: dict[str, Any]) -> list[dict[str, Any]]:
    """Round trips through each target, alternating within every run (same machine load)."""
    targets = {"order": "healthy", "reference": "reference", "two": "two-workers"}
    targets = {k: v for k, v in targets.items() if v in urls}
    runs: dict[str, list[dict[str, float]]] = {k: [] for k in targets}
    market_cpu = []
    for _ in range(RUNS):
        for key, name in targets.items():
            md_before = cpu_seconds(PIDS["market-data-primary"])
            pid = PIDS[name if name == "reference" else f"order-{name}"]
            runs[key].append(_measure(urls[name], pid, order))
            if key == "order":
                md_after = cpu_seconds(PIDS["market-data-primary"])
                market_cpu.append(1e3 * (md_after - md_before) / ROUND_TRIPS)
    return _round_trip_figures(runs, market_cpu)


def _series(runs: list[dict[str, float]], key: str) -> list[float]:
    return [run[key] for run in runs]


def _ratios(top: list[dict[str, float]], bottom: list[dict[str, float]], key: str) -> list[float]:
    return [a[key] / b[key] for a, b in zip(top, bottom, strict=True)]


def _round_trip_figures(
    runs: dict[str, list[dict[str, float]]], market_cpu: list[float]
) -> list[dict[str, Any]]:
    label = f"concurrency {CONCURRENCY}"
    order, reference = runs["order"], runs.get("reference")
    figures = []
    for key, name in (("open_p50", "POST /v1/orders latency p50"),
                      ("open_p99", "POST /v1/orders latency p99"),
                      ("close_p50", "POST close latency p50"),
                      ("close_p99", "POST close latency p99")):  # fmt: skip
        figures.append(figure(f"{name} ({label})", "ms", _series(order, key)))
        if reference:
            figures.append(figure(f"{name} ({label}), reference app", "ms",
                                  _series(reference, key)))  # fmt: skip
            figures.append(figure(f"{name}: order service / reference", "x",
                                  _ratios(order, reference, key)))  # fmt: skip
    figures.append(
        figure(f"open+close round trips/s ({label}), one worker", "round trips/s",
               _series(order, "per_second"))
    )  # fmt: skip
    # What bounds the round trips: CPU per round trip of each process (one open, one close,
    # two quotes); a process at 1000 ms/s of CPU is saturated (the GIL: one core each).
    figures.append(figure("order-service CPU per open+close round trip", "ms",
                          _series(order, "cpu_ms")))  # fmt: skip
    figures.append(figure("market-data CPU per round trip (two quotes)", "ms", market_cpu))
    if reference:
        figures += _reference_figures(order, reference, label)
    if runs.get("two"):
        figures += _worker_figures(order, runs["two"], label)
    return figures


def _goal(
    name: str, unit: str, samples: list[float], limit: float, at_least: bool
) -> dict[str, Any]:
    median = statistics.median(samples)
    met = median >= limit if at_least else median <= limit
    return figure(
        name, unit, samples, goal=f"{'>=' if at_least else '<='} {limit:g}x", goal_met=met
    )


def _reference_figures(
    order: list[dict[str, float]], reference: list[dict[str, float]], label: str
) -> list[dict[str, Any]]:
    return [
        figure(f"open+close round trips/s ({label}), reference app", "round trips/s",
               _series(reference, "per_second")),
        _goal(f"round trips/s ({label}), one worker: order service / reference", "x",
              _ratios(order, reference, "per_second"), GOAL_VS_REFERENCE, at_least=True),
        figure("reference app CPU per open+close round trip", "ms", _series(reference, "cpu_ms")),
        _goal("CPU per round trip: order service / reference", "x",
              _ratios(order, reference, "cpu_ms"), GOAL_CPU_VS_REFERENCE, at_least=False),
    ]  # fmt: skip


def _worker_figures(
    one: list[dict[str, float]], two: list[dict[str, float]], label: str
) -> list[dict[str, Any]]:
    return [
        figure(f"open+close round trips/s ({label}), two workers", "round trips/s",
               _series(two, "per_second")),
        figure("order-service CPU per round trip, two workers (both processes)", "ms",
               _series(two, "cpu_ms")),
        _goal(f"round trips/s ({label}): two workers / one worker", "x",
              _ratios(two, one, "per_second"), GOAL_TWO_WORKERS, at_least=True),
    ]  # fmt: skip


def _open_many(base: str, count: int, order: dict[str, Any]) -> list[int]:
    jobs = [{"kind": "open", "base": base, "label": "setup"}] * count
    opened: list[int] = drive(jobs, CONCURRENCY, order)["opened"]
    return opened


def _capture_overhead(urls: dict[str, str], order: dict[str, Any]) -> dict[str, Any]:
    """Close p50 with exit capture minus close p50 without, alternating closes one at a time."""
    overheads = []
    for _ in range(RUNS):
        positions = _open_many(urls["healthy"], 2 * CAPTURE_PAIRS, order)
        jobs = []
        for i, position in enumerate(positions):
            name = "no-capture" if i % 2 else "healthy"
            body = {"exit_price": 1.0} if name == "no-capture" else {}
            # Both services share the database: a position opened by one closes through another.
            jobs.append({"kind": "close", "base": urls[name], "label": name, "position": position,
                         "body": body})  # fmt: skip
        measured = drive(jobs, 1, order)["latencies_ms"]
        overheads.append(
            statistics.median(measured["healthy"]) - statistics.median(measured["no-capture"])
        )
    median = statistics.median(overheads)
    return figure(
        "close p50 with exit capture minus without (ORDER_CAPTURE_ENABLED=false), one at a time",
        "ms",
        overheads,
        goal=f"<= {GOAL_CAPTURE_MS:g} ms",
        goal_met=median <= GOAL_CAPTURE_MS,
    )


def _dead_primary(urls: dict[str, str], order: dict[str, Any]) -> list[dict[str, Any]]:
    """Close p99 through a service whose primary hangs (breaker open) over a healthy one's."""
    import httpx

    _open_many(urls["dead-primary"], 4, order)  # three read timeouts open the primary's breaker
    state = _breaker_state(httpx.get(f"{urls['dead-primary']}/metrics", timeout=30).text)
    ratios, healthy_p99, dead_p99 = [], [], []
    for _ in range(RUNS):
        positions = _open_many(urls["healthy"], 2 * BREAKER_CLOSES, order)
        jobs = [
            {"kind": "close", "base": urls[name], "label": name, "position": position}
            for position, name in zip(
                positions, ["healthy", "dead-primary"] * BREAKER_CLOSES, strict=True
            )
        ]
        measured = drive(jobs, CONCURRENCY, order)["latencies_ms"]
        healthy_p99.append(percentile(measured["healthy"], 0.99))
        dead_p99.append(percentile(measured["dead-primary"], 0.99))
        ratios.append(dead_p99[-1] / healthy_p99[-1])
    median = statistics.median(ratios)
    return [
        figure(f"close p99, healthy primary (concurrency {CONCURRENCY})", "ms", healthy_p99),
        figure(
            f"close p99, hanging primary behind an open breaker (state {state})", "ms", dead_p99
        ),
        figure(
            "close p99 ratio: dead primary (breaker open) / healthy",
            "x",
            ratios,
            goal=f"<= {GOAL_DEAD_PRIMARY_RATIO:g}x",
            goal_met=median <= GOAL_DEAD_PRIMARY_RATIO,
        ),
    ]


def _breaker_state(metrics: str) -> str:
    """The state `market_data_breaker_state` marks 1 for the primary."""
    prefix = 'market_data_breaker_state{provider="primary"'
    for line in metrics.splitlines():
        if line.startswith(prefix) and line.endswith(" 1.0"):
            return line.split('state="', 1)[1].split('"', 1)[0]
    return "unknown"


def run() -> list[dict[str, Any]]:
    """Start the processes on a scratch database, measure, stop them."""
    postgres = os.environ.get("BENCH_DATABASE_URL", "").startswith("postgres")
    database = "PostgreSQL" if postgres else "SQLite"
    with (
        scratch_database() as url,
        tempfile.TemporaryDirectory(prefix="bench-orders-") as tmp,
        stack(url, Path(tmp)) as urls,
    ):
        order = listed_option(urls["market-data"])
        for name in ("healthy", "reference", "two-workers"):  # warm
            if name in urls:
                drive([{"kind": "round_trip", "base": urls[name]}] * 20, CONCURRENCY, order)
        figures = _round_trips(urls, order)
        figures.append(_capture_overhead(urls, order))
        figures.extend(_dead_primary(urls, order))
    for result in figures:
        result["name"] = f"{result['name']} [{database}]"
    return figures


if __name__ == "__main__":
    if sys.argv[1:] == ["--driver"]:
        driver_main()
    else:
        for result in run():
            verdict = f"  goal {result['goal']}: {result['goal_met']}" if "goal" in result else ""
            print(
                f"{result['name']}: median {result['median']:,.2f} {result['unit']} (p10 "
                f"{result['p10']:,.2f}, p90 {result['p90']:,.2f}, {result['runs']} runs){verdict}"
            )
