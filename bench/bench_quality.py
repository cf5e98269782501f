"""Benchmark: the daily quality check over 10k, 100k and 1M trades closed in the window.

On PostgreSQL (`BENCH_DATABASE_URL`, e.g. postgresql://postgres@127.0.0.1/postgres): a scratch
database is created, migrated and filled with `INSERT ... SELECT generate_series` (about 2 % of
trades miss some field, spread over three model versions and three capture sources), grown
10k -> 100k -> 1M, `VACUUM ANALYZE`d at each size, and dropped at the end.

At each size, interleaved so both see the same machine load:

* the check as the service runs it: `run_manual_check` (the one aggregate query, the bounded
  failing-id query, grading, storing the run), median over several runs;
* the same counts done the way the design forbids: the check's columns of every trade in the
  window loaded into Python and counted there (Core rows, not ORM objects, so this is the
  fastest form of the naive approach);
* the ratio of the two, and the growth from 100k to 1M (10x the trades; linear is 10x time);
* the plain-SQL null counts of the same columns over the same window, the one query Soda Core
  issues for `missing_count` checks (`COUNT(CASE WHEN col IS NULL THEN 1 END)` per column, no
  breakdown, no JSON test), and the check's time over it: the floor a column-count check costs;
* the check's one aggregate query alone (`count_window`, in its own transaction) over the same
  null counts: what the rest of the run (sample query, grading, storing the run) adds is the
  difference between the two ratios.

`BENCH_QUICK=1` stops at 100k trades (no goals are judged then).

Run: `BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1/postgres uv run python -m
bench.bench_quality` (or `make bench BENCH=quality`). Without a PostgreSQL URL it returns no
figures.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select, text
from sqlalchemy.engine import make_url

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.stats import figure  # noqa: E402
from optrade.db.engine import create_db_engine, normalize_url
from optrade.db.migrate import upgrade
from optrade.domain import IST
from quality_service.checks import CHECKS, GROUP_KEYS, TRADE, count_window
from quality_service.runs import run_manual_check
from quality_service.schedule import lookback_window
from quality_service.scope import run_condition

QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
SIZES = (10_000, 100_000) if QUICK else (10_000, 100_000, 1_000_000)
NOW = datetime(2025, 12, 2, 16, 0, tzinfo=IST)
DAY_START = datetime(2025, 12, 2, 0, 0, tzinfo=IST)
GOAL_1M_MS = 1000.0
GOAL_RATIO = 20.0
GOAL_GROWTH = 15.0  # 10x the trades in at most 15x the time
GOAL_VS_PLAIN = 1.2  # the check at 1M trades over the plain-SQL null counts of its columns


def _columns() -> list[str]:
    return [f.column for check in CHECKS for f in check.fields]


def _insert_sql(start: int, stop: int) -> str:
    """Trades start..stop-1, closed through the day; every 50th..97th misses something."""
    values = {
        "delta": "0.45", "gamma": "0.002", "theta": "-12.5", "vega": "8.1", "iv": "14.2",
        "oi": "125000", "volume": "98000", "bid": "38.40", "ask": "38.55", "spot": "26032.20",
        "vix": "11.8", "pcr": "0.92", "ltp": "38.50",
    }  # fmt: skip
    gaps = {"entry_delta": 50, "exit_iv": 61, "exit_oi": 73, "exit_vix": 89, "model_hash": 97}
    columns, selects = [], []
    for prefix in ("entry_", "exit_"):
        for name, value in values.items():
            column = prefix + name
            columns.append(column)
            every = gaps.get(column)
            selects.append(
                f"CASE WHEN g % {every} = 0 THEN NULL ELSE {value} END" if every else value
            )
    fixed = {
        "position_id": "1", "underlying": "'NIFTY'", "expiry": "DATE '2025-12-02'",
        "strike": "26000", "option_type": "'CE'", "side": "'BUY'", "lot_size": "75", "lots": "1",
        "entry_price": "38.55", "entry_price_source": "'ask'", "exit_price": "41.10",
        "exit_price_source": "'bid'", "pnl": "191.25",
        "opened_at": f"TIMESTAMPTZ '{DAY_START.isoformat()}' + interval '4 hours'",
        "closed_at": f"TIMESTAMPTZ '{DAY_START.isoformat()}' + (g % 86400) * interval '1 second'",
        "ml_score": "0.71",
        "model_version": "(ARRAY['v1','v2','v3'])[1 + g % 3]",
        "model_hash": "CASE WHEN g % 97 = 0 THEN NULL ELSE 'sha256:abc' END",
        "features_snapshot": "CASE WHEN g % 83 = 0 THEN '{}'::jsonb "
                             "ELSE jsonb_build_object('rsi', g % 100, 'ema', 1.5) END",
        "entry_source": "(ARRAY['primary','primary','fallback'])[1 + g % 3]",
        "exit_source": "(ARRAY['primary','fallback','missing'])[1 + g % 3]",
    }  # fmt: skip
    columns += list(fixed)
    selects += list(fixed.values())
    return (
        f"INSERT INTO trade ({', '.join(columns)}) SELECT {', '.join(selects)} "
        f"FROM generate_series({start}, {stop - 1}) AS g"
    )


@contextmanager
def scratch_database(base_url: str) -> Iterator[Engine]:
    url = make_url(normalize_url(base_url))
    name = f"bench_quality_{uuid.uuid4().hex[:8]}"
    admin = create_db_engine(url.render_as_string(hide_password=False))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    scratch_url = url.set(database=name).render_as_string(hide_password=False)
    engine = None
    try:
        upgrade(scratch_url)
        engine = create_db_engine(scratch_url)
        yield engine
    finally:
        if engine is not None:
            engine.dispose()
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _seed_position(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO position (id, underlying, expiry, strike, option_type, side, "
                "lot_size, lots, quantity_open, entry_price, entry_price_source, opened_at, "
                "status, updated_at) VALUES (1, 'NIFTY', DATE '2025-12-02', 26000, 'CE', 'BUY', "
                "75, 1, 0, 38.55, 'ask', now(), 'closed', now())"
            )
        )


def _grow(engine: Engine, have: int, want: int) -> None:
    from tests.support.factories import bulk_trades

    with engine.begin() as conn, bulk_trades(conn):  # one statement of up to 1M trades
        conn.execute(text(_insert_sql(have, want)))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE trade"))


def check_in_database(engine: Engine) -> float:
    started = time.perf_counter()
    run = run_manual_check(engine, now=NOW, alert=False)
    elapsed = time.perf_counter() - started
    assert run.total_trades > 0
    return elapsed


def aggregate_query_only(engine: Engine) -> float:
    """The check's one aggregate query as `run_manual_check` sends it, without the run."""
    window = lookback_window(NOW, 1)
    started = time.perf_counter()
    with engine.begin() as conn:
        counts = count_window(conn, run_condition(window))
    assert counts.total > 0
    return time.perf_counter() - started


def plain_null_counts(engine: Engine) -> float:
    """The null count of every checked column in the window, as Soda Core's query does it."""
    counts = ", ".join(f'COUNT(CASE WHEN "{c}" IS NULL THEN 1 END)' for c in _columns())
    statement = text(
        f"SELECT COUNT(*), {counts} FROM trade WHERE closed_at >= :start AND closed_at < :end"
    )
    started = time.perf_counter()
    with engine.connect() as conn:
        row = conn.execute(statement, {"start": DAY_START, "end": DAY_START + timedelta(days=1)})
        assert row.one()[0] > 0
    return time.perf_counter() - started


def check_in_python(engine: Engine) -> float:
    """The counts of the check, computed over rows loaded into Python."""
    started = time.perf_counter()
    columns = _columns()
    position = {c: i for i, c in enumerate(columns)}
    checks = [(c.name, [position[f.column] for f in c.fields]) for c in CHECKS]
    features = position["features_snapshot"]
    end = DAY_START + timedelta(days=1)
    statement = select(*(TRADE.c[c] for c in (*columns, *GROUP_KEYS))).where(
        TRADE.c.closed_at >= DAY_START, TRADE.c.closed_at < end
    )
    present = [0] * len(columns)
    passed = {name: 0 for name, _ in checks}
    groups: dict[tuple[Any, ...], int] = {}
    total = 0
    # Streamed through a server-side cursor: holding 1M rows at once would add memory and GC
    # time that is not the point of the comparison.
    with engine.connect().execution_options(stream_results=True, yield_per=10_000) as conn:
        for row in conn.execute(statement):
            total += 1
            has = [value is not None for value in row[: len(columns)]]
            has[features] = bool(row[features])  # None, JSON null and {} are all missing
            for i, flag in enumerate(has):
                present[i] += flag
            for name, indexes in checks:
                passed[name] += all(has[i] for i in indexes)
            key = tuple(row[len(columns) :])
            groups[key] = groups.get(key, 0) + 1
    assert total > 0 and sum(groups.values()) == total
    return time.perf_counter() - started


def _interleaved(
    size: int,
    sql: Callable[[], float],
    python: Callable[[], float],
    plain: Callable[[], float],
    aggregate: Callable[[], float],
) -> tuple[list[float], list[float], list[float], list[float]]:
    """Alternate the four so all see the same machine load; fewer Python runs when large."""
    sql_runs = 9 if size < 1_000_000 else 7
    python_runs = {10_000: 5, 100_000: 3}.get(size, 3)
    if QUICK:
        sql_runs, python_runs = 3, 1
    sql()  # warm the cache and the plan
    plain()
    sql_samples, python_samples, plain_samples, aggregate_samples = [], [], [], []
    for i in range(sql_runs):
        sql_samples.append(sql())
        plain_samples.append(plain())
        aggregate_samples.append(aggregate())
        if i < python_runs:
            python_samples.append(python())
    return sql_samples, python_samples, plain_samples, aggregate_samples


def _ms(samples: list[float]) -> list[float]:
    return [s * 1000 for s in samples]


def _figures_at(
    size: int, sql: list[float], python: list[float], plain: list[float], aggregate: list[float]
) -> list[dict[str, Any]]:
    label = f"{size // 1000}k" if size < 1_000_000 else f"{size // 1_000_000}M"
    sql_median = statistics.median(sql)
    ratio = [p / sql_median for p in python]
    at_1m = size == 1_000_000
    over_plain = [a / b for a, b in zip(sql, plain, strict=True)]  # each pair ran back to back
    query_over_plain = [a / b for a, b in zip(aggregate, plain, strict=True)]
    return [
        figure(f"plain-SQL null counts of the same columns, {label} trades (Soda Core's query)",
               "ms", _ms(plain)),
        figure(
            f"check {label} trades / plain-SQL null counts", "x", over_plain,
            goal=f"<= {GOAL_VS_PLAIN:g}x" if at_1m else None,
            goal_met=statistics.median(over_plain) <= GOAL_VS_PLAIN if at_1m else None,
        ),
        figure(f"check's aggregate query alone, {label} trades / plain-SQL null counts", "x",
               query_over_plain),
        figure(
            f"check {label} trades (SQL aggregate)", "ms", _ms(sql),
            goal=f"<= {GOAL_1M_MS:g} ms" if at_1m else None,
            goal_met=sql_median * 1000 <= GOAL_1M_MS if at_1m else None,
        ),
        figure(f"check {label} trades (rows loaded into Python)", "ms", _ms(python)),
        figure(
            f"speed-up at {label} (Python / SQL)", "x", ratio,
            goal=f">= {GOAL_RATIO:g}x" if at_1m else None,
            goal_met=statistics.median(ratio) >= GOAL_RATIO if at_1m else None,
        ),
    ]  # fmt: skip


def run() -> list[dict[str, Any]]:
    base = os.environ.get("BENCH_DATABASE_URL", "")
    if not base.startswith("postgres"):
        print("bench_quality: set BENCH_DATABASE_URL to a PostgreSQL URL; skipped", flush=True)
        return []
    figures: list[dict[str, Any]] = []
    medians: dict[int, float] = {}
    with scratch_database(base) as engine:
        _seed_position(engine)
        have = 0
        for size in SIZES:
            _grow(engine, have, size)
            have = size
            sql, python, plain, aggregate = _interleaved(
                size,
                lambda: check_in_database(engine),
                lambda: check_in_python(engine),
                lambda: plain_null_counts(engine),
                lambda: aggregate_query_only(engine),
            )
            figures += _figures_at(size, sql, python, plain, aggregate)
            medians[size] = statistics.median(sql)
    if QUICK:
        return figures
    growth = medians[1_000_000] / medians[100_000]
    figures.append(
        figure("growth 100k -> 1M (SQL, 10x trades)", "x", [growth],
               goal=f"<= {GOAL_GROWTH:g}x (linear: 10x)", goal_met=growth <= GOAL_GROWTH)
    )  # fmt: skip
    return figures


if __name__ == "__main__":
    for result in run():
        print(result, flush=True)
    sys.exit(0)
