"""Training export: rows/s for 100k trades as CSV and Parquet, then 1M once, and peak RSS.

The database is a scratch one: a new PostgreSQL database next to `BENCH_DATABASE_URL` (dropped
afterwards), or a temporary SQLite file. Each export runs in a child process
(`python -m bench.bench_export --child URL FORMAT`) that streams the whole file to nowhere and
prints its rows and seconds; its peak resident memory is read by the parent from
`resource.getrusage(RUSAGE_CHILDREN)`, the maximum over the children waited for so far. A small
export is measured first, so the large one shows whether memory grows with the row count.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.stats import figure

ROOT = Path(__file__).resolve().parents[1]
TRADES = int(os.environ.get("BENCH_EXPORT_TRADES", "100000"))
SMALL = 10_000
RUNS = int(os.environ.get("BENCH_EXPORT_RUNS", "3"))
# Then the table grows to this many trades and each format is exported once more, to show that 1M
# trades export on this machine and that the export's memory does not grow with the rows (0: skip).
MILLION = int(os.environ.get("BENCH_EXPORT_MILLION", "1000000"))
RSS_GROWTH_LIMIT = 1.25  # peak RSS at MILLION rows over the peak at TRADES rows
GOAL_ROWS_PER_S = 1_667  # 1M trades in under 10 minutes
GOAL_RSS_MIB = 512
FIRST_OPEN = datetime(2025, 6, 2, 4, 0, tzinfo=UTC)


@contextmanager
def scratch_database() -> Iterator[str]:
    """A migrated, empty database URL; removed on exit."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from optrade.db.engine import create_db_engine, normalize_url
    from optrade.db.migrate import upgrade

    base = os.environ.get("BENCH_DATABASE_URL", "")
    if not base.startswith("postgres"):
        with tempfile.TemporaryDirectory(prefix="bench-export-") as folder:
            url = f"sqlite:///{folder}/export.db"
            upgrade(url)
            yield url
        return
    name = f"bench_export_{uuid.uuid4().hex[:10]}"
    admin = create_db_engine(normalize_url(base))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(normalize_url(base)).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def seed(url: str, count: int, start: datetime) -> None:
    from optrade.db.engine import create_db_engine
    from tests.support.factories import insert_trades, random_trades

    engine = create_db_engine(url)
    insert_trades(engine, random_trades(count, start=start))
    engine.dispose()


def export_in_child(url: str, export_format: str, closed_to: datetime | None) -> dict[str, Any]:
    """One export in a fresh process: rows, bytes and seconds as it measured them."""
    command = [sys.executable, "-m", "bench.bench_export", "--child", url, export_format]
    if closed_to is not None:
        command.append(closed_to.isoformat())
    output = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return dict(json.loads(output.strip().splitlines()[-1]))


def children_peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # Linux: KiB


def run() -> list[dict[str, Any]]:
    figures: list[dict[str, Any]] = []
    with scratch_database() as url:
        started = time.perf_counter()
        # SMALL trades a minute apart (about a week), the rest from two months later.
        seed(url, SMALL, FIRST_OPEN)
        seed(url, TRADES - SMALL, FIRST_OPEN + timedelta(days=60))
        seeded_s = time.perf_counter() - started

        small = export_in_child(url, "parquet", FIRST_OPEN + timedelta(days=30))
        assert small["rows"] == SMALL, small
        small_rss = children_peak_mib()
        samples: dict[str, list[float]] = {"csv": [], "parquet": []}
        sizes: dict[str, int] = {}
        for _ in range(RUNS):
            for export_format, rates in samples.items():
                result = export_in_child(url, export_format, None)
                assert result["rows"] == TRADES, result
                rates.append(result["rows"] / result["seconds"])
                sizes[export_format] = result["bytes"]
        large_rss = children_peak_mib()
        million: dict[str, float] = {}
        if MILLION > TRADES:
            seed(url, MILLION - TRADES, FIRST_OPEN + timedelta(days=200))
            for export_format in samples:
                result = export_in_child(url, export_format, None)
                assert result["rows"] == MILLION, result
                million[export_format] = result["rows"] / result["seconds"]
        million_rss = children_peak_mib()

    for export_format, rates in samples.items():
        figures.append(
            figure(
                f"export {TRADES // 1000}k trades, {export_format}",
                "rows/s",
                rates,
                goal=f">= {GOAL_ROWS_PER_S:,} rows/s (1M trades in < 10 min)",
                goal_met=min(rates) >= GOAL_ROWS_PER_S,
                file_mib=round(sizes[export_format] / 2**20, 1),
                seed_seconds=round(seeded_s, 1),
            )
        )
    figures.append(
        figure(
            f"peak RSS of an export process, {small['rows']:,} rows",
            "MiB",
            [small_rss],
        )
    )
    figures.append(
        figure(
            f"peak RSS of an export process, {TRADES // 1000}k rows (max over all exports)",
            "MiB",
            [large_rss],
            goal=f"< {GOAL_RSS_MIB} MiB",
            goal_met=large_rss < GOAL_RSS_MIB,
        )
    )
    if million:
        label = f"{MILLION / 1e6:g}M"
        for export_format, rate in million.items():
            figures.append(
                figure(
                    f"export {label} trades, {export_format} (once)",
                    "rows/s",
                    [rate],
                    goal=f">= {GOAL_ROWS_PER_S:,} rows/s",
                    goal_met=rate >= GOAL_ROWS_PER_S,
                )
            )
        figures.append(
            figure(
                f"peak RSS of an export process, {label} rows (max over all exports)",
                "MiB",
                [million_rss],
                goal=f"< {GOAL_RSS_MIB} MiB and <= {RSS_GROWTH_LIMIT:g}x the "
                f"{TRADES // 1000}k peak (not growing with rows)",
                goal_met=million_rss < GOAL_RSS_MIB and million_rss <= RSS_GROWTH_LIMIT * large_rss,
            )
        )
    return figures


def _child(url: str, export_format: str, closed_to: str | None) -> None:
    import pyarrow as pa
    from sqlalchemy import func, select

    from optrade.db.engine import create_db_engine
    from optrade.db.models import Trade
    from optrade.domain import TradeWindow
    from optrade.export.trades import ExportFormat, plan_export, stream_export

    # pyarrow imports pandas (when installed) on its first conversion: a once-per-process cost
    # the service pays on its first export, not per export, so it is paid before the clock runs.
    pa.array([0.0])
    engine = create_db_engine(url)
    window = TradeWindow(end=datetime.fromisoformat(closed_to) if closed_to else None)
    started = time.perf_counter()
    plan = plan_export(engine, window)
    size = sum(len(chunk) for chunk in stream_export(engine, plan, ExportFormat(export_format)))
    seconds = time.perf_counter() - started
    with engine.connect() as connection:
        columns = Trade.__table__.c  # type: ignore[attr-defined]
        count = select(func.count()).select_from(Trade).where(*window.conditions(columns))
        rows = connection.execute(count).scalar_one()
    print(json.dumps({"rows": rows, "bytes": size, "seconds": seconds}))


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None)
    else:
        for item in run():
            print(item)
