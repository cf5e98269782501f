"""How good a model's scores and outcomes are: pure functions of per-position arrays (numpy/scipy).

A position's outcome is a win when its net P&L (summed over its closes) is > 0; its score is the
`ml_score` it was opened with. Every figure is computed on whole arrays: ranks for the AUC
(Mann-Whitney, ties averaged, equal to scikit-learn's `roc_auc_score`), `np.bincount` over the
10 equal-width bins of `np.histogram` for the calibration table, and the bootstrap draws its
resamples as one index matrix (in blocks, so memory stays bounded) from a generator with a fixed
seed: the same positions give the same intervals on every call.

The statistics a comparison can use are registered in `METRICS`, each naming the per-position
values it needs; a metric whose values are not recorded yet (`return_on_margin` needs the trade's
`margin_blocked`) is known but refused until they are.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.stats import rankdata

SEED = 20_240_601  # fixed: an interval is reproducible
RESAMPLES = 2_000
PERMUTATIONS = 2_000
MIN_POSITIONS = 30  # below this, figures come with insufficient_data: true
CLIP = 1e-6  # log loss: scores clipped to [CLIP, 1 - CLIP]
BINS = 10
DECILES = 10
CONFIDENCE = 0.95
_BLOCK_CELLS = 4_000_000  # resamples × positions drawn at once (≈ 32 MB of float64)

Floats = NDArray[np.float64]
Statistic = Callable[[Mapping[str, Floats]], Floats]


@dataclass(frozen=True)
class Positions:
    """One model's positions as arrays of equal length, in position-id order."""

    score: Floats  # ml_score at entry; NaN when the order carried none
    net: Floats  # net P&L in rupees (gross where charges were never recorded)
    premium: Floats  # entry price × lots × lot size, rupees
    margin: Floats | None = None  # margin blocked, rupees: not recorded yet

    def __len__(self) -> int:
        return len(self.net)

    @property
    def win(self) -> Floats:
        return (self.net > 0).astype(np.float64)

    def scored(self) -> Positions:
        """Only the positions opened with a score."""
        keep = ~np.isnan(self.score)
        margin = None if self.margin is None else self.margin[keep]
        return Positions(self.score[keep], self.net[keep], self.premium[keep], margin)

    def arrays(self) -> dict[str, Floats]:
        found = {"score": self.score, "win": self.win, "net": self.net, "premium": self.premium}
        return found | ({} if self.margin is None else {"margin": self.margin})


# --- statistics over rows of a 2-D array (one row per resample; a 1-D array is one row) ------


def _rows(values: Floats) -> Floats:
    return values if values.ndim == 2 else values[np.newaxis, :]


def auc_rows(score: Floats, win: Floats) -> Floats:
    """ROC AUC per row: (rank sum of wins − n₊(n₊+1)/2) / (n₊ n₋); NaN where a class is absent."""
    score, win = _rows(score), _rows(win)
    ranks = rankdata(score, axis=1)  # ties get their average rank, as roc_auc_score counts ½
    wins = win.sum(axis=1)
    losses = win.shape[1] - wins
    with np.errstate(invalid="ignore", divide="ignore"):
        found = ((ranks * win).sum(axis=1) - wins * (wins + 1) / 2) / (wins * losses)
    return np.where((wins > 0) & (losses > 0), found, np.nan)


def _mean(name: str) -> Statistic:
    return lambda a: _rows(a[name]).mean(axis=1)


def _ratio(numerator: str, denominator: str) -> Statistic:
    def statistic(a: Mapping[str, Floats]) -> Floats:
        total = _rows(a[denominator]).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total != 0, _rows(a[numerator]).sum(axis=1) / total, np.nan)

    return statistic


@dataclass(frozen=True)
class Metric:
    """A statistic of a set of positions, and the per-position values it needs."""

    name: str
    description: str
    needs: tuple[str, ...]
    statistic: Statistic
    scored_only: bool = False  # computed over the positions opened with a score


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("mean_net_pnl", "mean net P&L per position, rupees", ("net",), _mean("net")),
        Metric("win_rate", "share of positions with net P&L > 0", ("win",), _mean("win")),
        Metric(
            "auc",
            "ROC AUC of ml_score against the win",
            ("score", "win"),
            lambda a: auc_rows(a["score"], a["win"]),
            scored_only=True,
        ),  # fmt: skip
        Metric(
            "return_on_margin",
            "Σ net P&L / Σ margin blocked",
            ("net", "margin"),
            _ratio("net", "margin"),
        ),  # fmt: skip
    )
}


def unavailable_reason(metric: Metric, positions: Positions) -> str | None:
    """Why `metric` cannot be computed on these positions (a value it needs is not recorded)."""
    missing = [name for name in metric.needs if name not in positions.arrays()]
    if not missing:
        return None
    return (
        f"{metric.name} needs {', '.join(missing)} per position, which not every trade compared "
        "records (trades stored before margins were recorded)"
    )


# --- point figures ------------------------------------------------------------------------------


def auc(score: Floats, win: Floats) -> float | None:
    found = float(auc_rows(score, win)[0])
    return None if np.isnan(found) else found


def brier(score: Floats, win: Floats) -> float | None:
    return float(np.mean((score - win) ** 2)) if len(score) else None


def log_loss(score: Floats, win: Floats) -> float | None:
    if not len(score):
        return None
    p = np.clip(score, CLIP, 1 - CLIP)
    return float(-np.mean(win * np.log(p) + (1 - win) * np.log1p(-p)))


def score_bins(score: Floats, bins: int = BINS) -> NDArray[np.intp]:
    """The bin of each score among `bins` equal-width bins of [0, 1], as `np.histogram` bins
    them (each bin half-open but the last; scores outside [0, 1] go to the end bins)."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    return np.clip(np.searchsorted(edges, score, side="right") - 1, 0, bins - 1)


def calibration(score: Floats, win: Floats, bins: int = BINS) -> list[dict[str, Any]]:
    """Per equal-width score bin: its edges, count, mean score and observed win rate."""
    index = score_bins(score, bins)
    count = np.bincount(index, minlength=bins)
    scores = np.bincount(index, weights=score, minlength=bins)
    wins = np.bincount(index, weights=win, minlength=bins)
    edges = np.linspace(0.0, 1.0, bins + 1)
    return [
        {
            "low": float(edges[i]),
            "high": float(edges[i + 1]),
            "count": int(count[i]),
            "mean_score": float(scores[i] / count[i]) if count[i] else None,
            "win_rate": float(wins[i] / count[i]) if count[i] else None,
        }
        for i in range(bins)
    ]


def by_decile(p: Positions, deciles: int = DECILES) -> list[dict[str, Any]]:
    """Positions ranked by score and cut into (at most) ten groups of equal count (ties in
    position order): per group its score range, count, net P&L, mean and return on premium."""
    if not len(p):
        return []
    order = np.argsort(p.score, kind="stable")
    groups = [g for g in np.array_split(order, min(deciles, len(order))) if len(g)]
    found = []
    for number, group in enumerate(groups, start=1):  # ten groups, not rows
        net, premium = p.net[group], p.premium[group]
        found.append(
            {
                "decile": number,
                "count": len(group),
                "min_score": float(p.score[group].min()),
                "max_score": float(p.score[group].max()),
                "net_pnl": round(float(net.sum()), 2),
                "mean_net_pnl": round(float(net.mean()), 2),
                "net_return": float(net.sum() / premium.sum()) if premium.sum() else None,
            }
        )
    return found


# --- resampling ---------------------------------------------------------------------------------


def _blocks(n: int, total: int) -> list[int]:
    """Resamples per block so a block's index matrix holds at most _BLOCK_CELLS cells."""
    size = max(1, min(total, _BLOCK_CELLS // max(n, 1)))
    return [min(size, total - start) for start in range(0, total, size)]


def bootstrap(
    arrays: Mapping[str, Floats], statistic: Statistic, rng: np.random.Generator, total: int
) -> Floats:
    """`statistic` on `total` resamples (with replacement) of the positions, drawn in blocks."""
    n = len(next(iter(arrays.values())))
    found = []
    for size in _blocks(n, total):
        index = rng.integers(0, n, size=(size, n))
        found.append(statistic({name: values[index] for name, values in arrays.items()}))
    return np.concatenate(found)


def percentile_interval(values: Floats) -> tuple[float, float] | None:
    """The central CONFIDENCE interval of bootstrap values (undefined resamples ignored)."""
    finite = values[~np.isnan(values)]
    if not len(finite):
        return None
    tail = 100 * (1 - CONFIDENCE) / 2
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


def _interval(estimate: float | None, values: Floats) -> dict[str, Any]:
    bounds = percentile_interval(values)
    return {
        "estimate": estimate,
        "low": bounds[0] if bounds else None,
        "high": bounds[1] if bounds else None,
    }


def intervals(p: Positions, resamples: int = RESAMPLES) -> dict[str, dict[str, Any]]:
    """Bootstrap 95% intervals of the win rate, mean net P&L per position and AUC (seeded)."""
    found: dict[str, dict[str, Any]] = {}
    for name in ("win_rate", "mean_net_pnl", "auc"):
        metric = METRICS[name]
        sample = p.scored() if metric.scored_only else p
        if not len(sample):
            found[name] = {"estimate": None, "low": None, "high": None}
            continue
        arrays = {key: sample.arrays()[key] for key in metric.needs}
        point = float(metric.statistic(arrays)[0])
        values = bootstrap(arrays, metric.statistic, np.random.default_rng(SEED), resamples)
        found[name] = _interval(None if np.isnan(point) else point, values)
    return found


def score_quality(p: Positions) -> dict[str, Any]:
    """Every per-model figure of the performance report beside the counts."""
    scored = p.scored()
    return {
        "scored_positions": len(scored),
        "insufficient_data": len(p) < MIN_POSITIONS,
        "auc": auc(scored.score, scored.win),
        "brier": brier(scored.score, scored.win),
        "log_loss": log_loss(scored.score, scored.win),
        "calibration": calibration(scored.score, scored.win),
        "deciles": by_decile(scored),
        "intervals": intervals(p),
    }


# --- comparing two sets of positions ------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    metric: str
    baseline_n: int
    candidate_n: int
    baseline: float | None
    candidate: float | None
    difference: float | None  # candidate − baseline
    low: float | None
    high: float | None
    p_value: float | None  # two-sided permutation test


def _values(metric: Metric, p: Positions) -> dict[str, Floats]:
    sample = p.scored() if metric.scored_only else p
    return {name: sample.arrays()[name] for name in metric.needs}


def _point(metric: Metric, arrays: Mapping[str, Floats]) -> float | None:
    if not len(next(iter(arrays.values()))):
        return None
    found = float(metric.statistic(arrays)[0])
    return None if np.isnan(found) else found


def permutation_p_value(
    metric: Metric,
    baseline: Mapping[str, Floats],
    candidate: Mapping[str, Floats],
    observed: float,
    rng: np.random.Generator,
    total: int = PERMUTATIONS,
) -> float:
    """Two-sided: the share of relabelings of the pooled positions whose |difference| is at
    least the observed one, (k + 1) / (total + 1) so it is never 0."""
    pooled = {name: np.concatenate([baseline[name], candidate[name]]) for name in baseline}
    n_base = len(next(iter(baseline.values())))
    n = len(next(iter(pooled.values())))
    differences = []
    for size in _blocks(n, total):
        order = rng.permuted(np.tile(np.arange(n), (size, 1)), axis=1)
        shuffled = {name: values[order] for name, values in pooled.items()}
        base = metric.statistic({k: v[:, :n_base] for k, v in shuffled.items()})
        cand = metric.statistic({k: v[:, n_base:] for k, v in shuffled.items()})
        differences.append(cand - base)
    spread = np.abs(np.concatenate(differences))
    extreme = int(np.sum(spread >= abs(observed) - 1e-12))  # NaN compares False: not extreme
    return (extreme + 1) / (total + 1)


def compare(
    metric: Metric, baseline: Positions, candidate: Positions, resamples: int = RESAMPLES
) -> Comparison:
    """Each arm's n and metric, candidate − baseline, its bootstrap 95% interval (each arm
    resampled on its own) and a permutation-test p-value; both seeded."""
    base, cand = _values(metric, baseline), _values(metric, candidate)
    n_base, n_cand = len(next(iter(base.values()))), len(next(iter(cand.values())))
    base_point, cand_point = _point(metric, base), _point(metric, cand)
    if base_point is None or cand_point is None:
        return Comparison(metric.name, n_base, n_cand, base_point, cand_point, *(None,) * 4)
    rng = np.random.default_rng(SEED)
    differences = bootstrap(cand, metric.statistic, rng, resamples) - bootstrap(
        base, metric.statistic, rng, resamples
    )
    bounds = percentile_interval(differences)
    observed = cand_point - base_point
    p_value = permutation_p_value(metric, base, cand, observed, rng)
    return Comparison(
        metric.name, n_base, n_cand, base_point, cand_point, observed,
        bounds[0] if bounds else None, bounds[1] if bounds else None, p_value,
    )  # fmt: skip


def gate_verdict(
    baseline_n: int, candidate_n: int, low: float | None, min_delta: float, min_n: int
) -> str:
    """`insufficient_data` when an arm has fewer than `min_n` positions; `pass` when the lower
    bound `low` of the interval of (candidate − baseline) is at or above `min_delta`; else
    `fail`."""
    if min(baseline_n, candidate_n) < min_n:
        return "insufficient_data"
    return "pass" if low is not None and low >= min_delta else "fail"
