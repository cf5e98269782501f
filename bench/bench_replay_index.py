"""The nse-replay provider's start-up over the six weeks of real NSE history (358 `*.json.gz`
snapshots in one folder a day): indexing the folder as it ships (each file's time from
`index.csv`, no file opened) against the goal of 10 s, indexing the same files without
`index.csv` (each file's `records.timestamp` found by a streamed scan of the gzip), and parsing
one snapshot on first use (gunzip and JSON, what the bounded cache saves on every later ask).

The history folder is `BENCH_NSE_HISTORY_DIR`, default the handbook's `data/nse/history`.
`BENCH_QUICK=1` runs two rounds instead of seven.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/bench_replay_index.py` as well as `-m bench`
    sys.path.insert(0, str(ROOT))

from bench.stats import figure  # noqa: E402
from market_data_service.providers.nse_replay import index_folder, parse_snapshot  # noqa: E402
from market_data_service.providers.nse_replay.files import INDEX_CSV  # noqa: E402

QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
RUNS = 2 if QUICK else 7
PARSE_RUNS = 5 if QUICK else 20
INDEX_GOAL_S = 10.0
HISTORY_FILES = 358


def _history_dir() -> Path:
    default = ROOT.parent / "shared" / "data" / "nse" / "history"
    folder = Path(os.environ.get("BENCH_NSE_HISTORY_DIR") or default)
    if not (folder / INDEX_CSV).is_file():
        raise FileNotFoundError(f"no NSE history with {INDEX_CSV} at {folder}")
    return folder


def _timed_index(folder: Path) -> list[float]:
    samples = []
    for _ in range(RUNS):
        started = time.perf_counter()
        indexed = index_folder(folder)
        samples.append(time.perf_counter() - started)
        assert len(indexed) == HISTORY_FILES, len(indexed)
    return samples


def _without_index_csv(history: Path, scratch: Path) -> Path:
    """The same files, linked into day folders of their own, with no `index.csv`."""
    for path in history.rglob("*.json.gz"):
        day = scratch / path.parent.name
        day.mkdir(exist_ok=True)
        (day / path.name).symlink_to(path)
    return scratch


def _index_figure(name: str, samples: list[float]) -> dict[str, Any]:
    worst = max(samples)
    return figure(
        name,
        "s",
        samples,
        goal=f"<= {INDEX_GOAL_S:g} s for the {HISTORY_FILES} files",
        goal_met=worst <= INDEX_GOAL_S,
        files=HISTORY_FILES,
    )


def run() -> list[dict[str, Any]]:
    history = _history_dir()
    figures = [_index_figure("index 358 snapshots (index.csv, as shipped)", _timed_index(history))]
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as scratch:
        scanned = _timed_index(_without_index_csv(history, Path(scratch)))
    figures.append(_index_figure("index 358 snapshots (no index.csv: scan)", scanned))
    snapshots = sorted(history.rglob("*.json.gz"))
    one = snapshots[len(snapshots) // 2]
    parse = []
    for _ in range(PARSE_RUNS):
        started = time.perf_counter()
        parse_snapshot(one, "NIFTY")
        parse.append((time.perf_counter() - started) * 1000)
    figures.append(figure("parse one .json.gz snapshot on first use", "ms", parse))
    return figures


if __name__ == "__main__":
    for f in run():
        print(f)
