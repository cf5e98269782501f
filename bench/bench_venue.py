"""The venue's replay walk: one real session (13-Nov-2025, every recorded snapshot of the day from
the six weeks of NSE history) walked by `POST /v1/engine/advance` with 1,000 pending orders and
exits, against the goal of 30 s.

The orders are placed at the session's first snapshot on the nearest weekly: resting LIMIT BUYs a
little under the ask (some fill during the day, most rest and expire at 15:30) and MARKET BUYs
with a stop-loss and a target (MIS: the rest square off at 15:15), so every kind of pending work
is evaluated on every snapshot. Real processes: the market-data service replaying the history and
the order service on the embedded default (SQLite). `BENCH_QUICK=1` walks 200 orders once.
"""

from __future__ import annotations

import gzip
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench.stats import figure  # noqa: E402
from optrade.db.migrate import upgrade  # noqa: E402
from optrade.domain import IST  # noqa: E402
from tests.support.processes import ServiceProcess  # noqa: E402

QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
ORDERS = 200 if QUICK else 1000
RUNS = 1 if QUICK else 2
GOAL_S = 30.0
DAY = date(2025, 11, 13)
KEY = "bench-venue-key-0123456789abcdef"


def _history() -> Path:
    default = ROOT.parent / "shared" / "data" / "nse" / "history"
    return Path(os.environ.get("BENCH_NSE_HISTORY_DIR") or default)


def _first_snapshot(history: Path) -> tuple[datetime, dict[str, Any]]:
    first = sorted((history / DAY.isoformat()).glob("*.json.gz"))[0]
    with gzip.open(first, "rt") as handle:
        records = json.load(handle)["records"]
    instant = datetime.strptime(records["timestamp"], "%d-%b-%Y %H:%M:%S").replace(tzinfo=IST)
    return instant, records


def _bodies(instant: datetime, records: dict[str, Any], count: int) -> list[dict[str, Any]]:
    expiry = records["expiryDates"][0]
    rows = [r for r in records["data"] if r["expiryDate"] == expiry and r.get("CE")]
    spot = records["underlyingValue"]
    near = sorted(rows, key=lambda r: abs(r["strikePrice"] - spot))[:20]
    when = datetime.strptime(expiry, "%d-%b-%Y").date().isoformat()
    bodies = []
    for n in range(count):
        row = near[n % len(near)]
        ask = Decimal(str(row["CE"]["askPrice"]))
        base = {"underlying": "NIFTY", "expiry": when, "strike": row["strikePrice"],
                "option_type": "CE", "side": "BUY", "lots": 1, "ml_score": 0.5,
                "model_version": "bench-venue", "model_hash": "abc1234",
                "features_snapshot": {"n": n}, "as_of": instant.isoformat()}  # fmt: skip
        if n % 2:
            limit = (ask * Decimal("0.9") / Decimal("0.05")).quantize(Decimal(1)) * Decimal("0.05")
            bodies.append(base | {"order_type": "LIMIT", "price": str(limit)})
        else:
            stop = (ask * Decimal("0.8") / Decimal("0.05")).quantize(Decimal(1)) * Decimal("0.05")
            target = (ask * Decimal("1.3") / Decimal("0.05")).quantize(Decimal(1)) * Decimal("0.05")
            bodies.append(base | {"product": "MIS", "stop_loss": str(stop), "target": str(target)})
    return bodies


def _one_walk(logs: Path, history: Path, bodies: list[dict[str, Any]]) -> tuple[float, int]:
    database = f"sqlite:///{logs / 'venue.db'}"
    # A capital no bench can spend: the funds check runs on every fill, never refuses.
    subprocess_env = {"DATABASE_URL": database, "APP_ENV": "test",
                      "ORDER_ACCOUNT_CAPITAL": "100000000000"}  # fmt: skip
    upgrade(database)
    market = ServiceProcess(
        "market_data_service.main:create_app", log_path=logs / "md.log",
        env={"MARKET_DATA_PROVIDER": "nse-replay", "NSE_REPLAY_DIR": str(history),
             "APP_ENV": "test", "MARKET_DATA_FAULT": "none"},
    ).start()  # fmt: skip
    orders = ServiceProcess(
        "order_service.main:create_app", log_path=logs / "orders.log",
        env={**subprocess_env, "API_KEY": KEY, "MARKET_DATA_CLIENT_PRIMARY_URL": market.url,
             "MARKET_DATA_CLIENT_FALLBACK_URL": "", "MARKET_DATA_READ_TIMEOUT": "10"},
    ).start()  # fmt: skip
    try:
        auth = {"Authorization": f"Bearer {KEY}"}
        with httpx.Client(base_url=orders.url, headers=auth, timeout=120) as api:
            first = api.post("/v1/orders", json=bodies[0])  # the snapshot parsed once
            assert first.status_code == 201, first.text
            with ThreadPoolExecutor(4) as pool:
                answers = list(pool.map(lambda b: api.post("/v1/orders", json=b), bodies[1:]))
            assert all(a.status_code == 201 for a in answers), answers[0].text
            until = datetime(DAY.year, DAY.month, DAY.day, 15, 31, tzinfo=IST)
            started = time.perf_counter()
            walked = api.post("/v1/engine/advance", json={"until": until.isoformat()}, timeout=600)
            took = time.perf_counter() - started
            assert walked.status_code == 200, walked.text
            return took, int(walked.json()["observations"])
    finally:
        orders.stop()
        market.stop()


def run() -> list[dict[str, Any]]:
    history = _history()
    instant, records = _first_snapshot(history)
    bodies = _bodies(instant, records, ORDERS)
    samples, observations = [], 0
    for _ in range(RUNS):
        with tempfile.TemporaryDirectory(prefix="bench-venue-") as scratch:
            took, observations = _one_walk(Path(scratch), history, bodies)
            samples.append(took)
    scaled = [s * 1000 / ORDERS for s in samples]  # per 1,000 pending orders
    return [
        figure(
            f"replay walk of one session ({DAY.isoformat()}, {observations} chain observations) "
            f"with {ORDERS} pending orders and exits",
            "s", samples,
        ),
        figure(
            "replay walk of one session, per 1,000 pending orders and exits",
            "s", scaled, goal=f"<= {GOAL_S:g} s", goal_met=max(scaled) <= GOAL_S,
        ),
    ]  # fmt: skip


if __name__ == "__main__":
    for item in run():
        print(item)
