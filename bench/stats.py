"""Small helpers every benchmark uses to turn samples into a figure."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any


def percentile(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def figure(
    name: str,
    unit: str,
    samples: Sequence[float],
    *,
    goal: str | None = None,
    goal_met: bool | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A figure: median and 10th/90th percentiles of `samples`."""
    out: dict[str, Any] = {
        "name": name,
        "unit": unit,
        "median": statistics.median(samples),
        "p10": percentile(samples, 0.10),
        "p90": percentile(samples, 0.90),
        "runs": len(samples),
    }
    if goal is not None:
        out["goal"] = goal
        out["goal_met"] = goal_met
    out.update(extra)
    return out
