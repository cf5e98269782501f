"""`optrade backtest` over the six weeks of real NSE history (13-Oct..21-Nov-2025, 358 snapshots
in 28 sessions) with the examples' toy engine (two orders with a stop-loss and a target at each
snapshot before 15:00 IST): the whole walk through real processes (market data in `nse-replay`,
the order service, the quality API) against the goal of 10 minutes, with snapshots/s and
orders/s beside it.

The history folder is `BENCH_NSE_HISTORY_DIR`, default the handbook's `data/nse/history`; the
database is `BENCH_DATABASE_URL` (PostgreSQL) or a scratch SQLite file (the embedded default).
`BENCH_QUICK=1` walks two sessions and judges no goal.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/bench_backtest.py` as well as `-m bench`
    sys.path.insert(0, str(ROOT))

from bench.bench_export import scratch_database  # noqa: E402
from bench.stats import figure  # noqa: E402

QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
FIRST, LAST = date(2025, 10, 13), (date(2025, 10, 14) if QUICK else date(2025, 11, 21))
GOAL_S = 600.0
ENGINE = "examples.signal_engine:decide"


def _history() -> tuple[Path, Path | None]:
    shared = ROOT.parent / "shared" / "data" / "nse"
    folder = Path(os.environ.get("BENCH_NSE_HISTORY_DIR") or shared / "history")
    if not (folder / "index.csv").is_file():
        raise FileNotFoundError(f"no NSE history with index.csv at {folder}")
    vix = shared / "india_vix" / "india_vix_daily_2012-01-02_to_2026-07-31.csv"
    return folder, (vix if vix.is_file() else None)


def _walk(urls: dict[str, str], state_dir: Path) -> dict[str, Any]:
    from optrade_client import Optrade
    from optrade_client.backtest import report_of, run_backtest, write_certified_export
    from tests.conftest import TEST_API_KEY

    with Optrade(urls, TEST_API_KEY, timeout=120) as client:
        started = time.perf_counter()
        state = run_backtest(client, ENGINE, start=FIRST, end=LAST, state_dir=state_dir)
        report = report_of(client, state)
        write_certified_export(client, state, state_dir / "certified.csv")
        elapsed = time.perf_counter() - started
    sessions = list(state.sessions.values())
    return {
        "seconds": elapsed,
        "snapshots": sum(s.instants for s in sessions),
        "orders": report.orders,
        "trades": len(report.trades),
        "sessions": len(sessions),
        "quality_runs": sum(1 for s in sessions if s.quality_run),
    }


def run() -> list[dict[str, Any]]:
    from tests.support.replay_stack import replay_stack

    history, vix = _history()
    with (
        tempfile.TemporaryDirectory(prefix="bench-backtest-") as scratch,
        scratch_database() as database_url,
        replay_stack(database_url, history, vix, Path(scratch)) as urls,
    ):
        # the engine is imported from the current directory, as the CLI does
        os.chdir(ROOT)
        walked = _walk(urls, Path(scratch) / "backtests")
    assert walked["quality_runs"] == walked["sessions"], walked
    seconds = walked["seconds"]
    shown = (f"{walked['sessions']} sessions, {walked['snapshots']} snapshots, "
             f"{walked['orders']} orders, {walked['trades']} trades")  # fmt: skip
    span = "two sessions (quick)" if QUICK else "six weeks"
    return [
        figure(
            f"backtest of {span}: wall time",
            "s",
            [seconds],
            goal=None if QUICK else f"≤ {GOAL_S:.0f} s",
            goal_met=None if QUICK else seconds <= GOAL_S,
            detail=shown,
        ),  # fmt: skip
        figure(
            "backtest: snapshots walked per second",
            "snapshots/s",
            [walked["snapshots"] / seconds],
            detail=shown,
        ),  # fmt: skip
        figure(
            "backtest: orders per second", "orders/s", [walked["orders"] / seconds], detail=shown
        ),  # fmt: skip
    ]


if __name__ == "__main__":
    for result in run():
        print(result)
