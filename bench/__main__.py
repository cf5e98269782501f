"""`make bench`: run every `bench/bench_*.py`, print a table, write docs/benchmarks.md and
bench/results.json.

Each benchmark module exposes `run() -> list[dict]`; a figure is a dict with `name`, `unit`,
`median`, `p10`, `p90`, `runs` and optionally `goal` (text) and `goal_met` (bool). Comparisons are
ratios measured side by side in the same run, because these machines are shared and noisy.
Run a subset with `make bench BENCH=greeks,quality`; `BENCH_QUICK=1` runs fewer, shorter rounds
for a quick check and writes no report; a subset replaces its modules' figures in the last report
(each figure keeps the date it was measured on). The report lists every goal met or not, then
bench/limits.md (what limits the goals not met, from a profile; written by hand);
`python -m bench --report` writes it again from bench/results.json after limits.md changed.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS_JSON = ROOT / "bench" / "results.json"
REPORT_MD = ROOT / "docs" / "benchmarks.md"
LIMITS_MD = ROOT / "bench" / "limits.md"
QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")


def _machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    database = os.environ.get("BENCH_DATABASE_URL", "")
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_gib, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "database": "PostgreSQL" if database.startswith("postgres") else "SQLite (embedded)",
    }


def _modules(selected: set[str] | None) -> list[str]:
    names = sorted(p.stem for p in (ROOT / "bench").glob("bench_*.py"))
    if selected:
        names = [n for n in names if n.removeprefix("bench_") in selected or n in selected]
    return names


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if value == 0 or 0.01 <= abs(value) < 1e6:
            return f"{value:,.3f}".rstrip("0").rstrip(".")
        return f"{value:.3g}"
    return str(value)


def _verdict(figure: dict[str, Any]) -> str:
    if "goal_met" not in figure or figure["goal_met"] is None:
        return ""
    return "met" if figure["goal_met"] else "NOT met"


def _table(figures: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| benchmark | figure | median | p10 | p90 | unit | runs | goal | verdict |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for f in figures:
        cells = [
            f["module"],
            f["name"],
            _fmt(f.get("median")),
            _fmt(f.get("p10", "")),
            _fmt(f.get("p90", "")),
            f.get("unit", ""),
            f.get("runs", ""),
            f.get("goal", ""),
            _verdict(f),
        ]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return lines


def _goals(figures: list[dict[str, Any]]) -> list[str]:
    """One line per goal: met or not, with the measured value."""
    lines = ["## Goals", ""]
    for f in figures:
        if f.get("goal_met") is None:
            continue
        lines.append(
            f"- **{_verdict(f)}**: {f['module']} / {f['name']}: measured {_fmt(f['median'])}"
            f" {f.get('unit', '')} (goal {f['goal']})"
        )
    return [*lines, ""]


def _limits() -> list[str]:
    """The hand-written note on what limits the goals not met (from a profile), if present."""
    if not LIMITS_MD.exists():
        return []
    return [LIMITS_MD.read_text().rstrip(), ""]


def _write_report(result: dict[str, Any]) -> None:
    """docs/benchmarks.md from one run's results and bench/limits.md."""
    machine, figures, failures = result["machine"], result["figures"], result["failures"]
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m bench`); do not edit by hand.",
        "",
        f"- date: {result['date']}",
        f"- machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB,"
        f" Python {machine['python']}",
        f"- database: {machine['database']}",
        f"- total time: {result.get('seconds', 0):.0f} s",
        "",
        "Each figure is the median over repeated runs with the 10th and 90th percentiles as its"
        " spread. Every comparison is a ratio measured side by side in the same run.",
        "",
        *_table(figures),
        "",
        *_goals(figures),
        *_limits(),
    ]
    if failures:
        lines += ["## Benchmarks that failed", "", "```", *failures, "```", ""]
    REPORT_MD.write_text("\n".join(lines))
    print(f"\nwrote {REPORT_MD.relative_to(ROOT)} from the figures in {RESULTS_JSON.name}")


def _merged(result: dict[str, Any], modules: set[str]) -> dict[str, Any]:
    """The last full report with the figures of `modules` replaced by this run's (each figure
    keeps the date it was measured on)."""
    if not RESULTS_JSON.exists():
        return result
    earlier = json.loads(RESULTS_JSON.read_text())
    for figure in earlier["figures"]:
        figure.setdefault("measured", earlier["date"])
    for figure in result["figures"]:
        figure["measured"] = result["date"]
    kept = [f for f in earlier["figures"] if f.get("module") not in modules]
    return {**earlier, "date": result["date"], "figures": kept + result["figures"],
            "failures": result["failures"]}  # fmt: skip


def main() -> int:
    if sys.argv[1:] == ["--report"]:  # re-render from bench/results.json (limits.md edited)
        _write_report(json.loads(RESULTS_JSON.read_text()))
        return 0
    selected = set(filter(None, os.environ.get("BENCH", "").split(","))) or None
    sys.path.insert(0, str(ROOT))
    figures: list[dict[str, Any]] = []
    failures: list[str] = []
    started = time.perf_counter()
    for name in _modules(selected):
        print(f"== {name}", flush=True)
        t0 = time.perf_counter()
        try:
            module = importlib.import_module(f"bench.{name}")
            for figure in module.run():
                figure["module"] = name.removeprefix("bench_")
                figures.append(figure)
                print(f"   {figure['name']}: {_fmt(figure.get('median'))} {figure.get('unit', '')}"
                      f"  {_verdict(figure)}", flush=True)  # fmt: skip
        except Exception:  # noqa: BLE001 - one broken benchmark must not hide the others
            failures.append(f"{name}: {traceback.format_exc(limit=3)}")
            print(f"   FAILED: {traceback.format_exc(limit=3)}", flush=True)
        print(f"   ({time.perf_counter() - t0:.1f} s)", flush=True)

    machine = _machine()
    when = datetime.now(UTC).isoformat(timespec="seconds")
    result = {
        "date": when,
        "machine": machine,
        "seconds": round(time.perf_counter() - started),
        "figures": figures,
        "failures": failures,
    }
    if not QUICK:
        if selected is not None:  # a subset replaces its modules' figures in the last report
            result = _merged(result, {f["module"] for f in figures})
        RESULTS_JSON.write_text(json.dumps(result, indent=2, default=str) + "\n")
        _write_report(result)
    print("\n".join(_table(figures)))
    missed = [f for f in figures if f.get("goal_met") is False]
    if missed:
        print("\ngoals not met: " + ", ".join(f"{f['module']}/{f['name']}" for f in missed))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
