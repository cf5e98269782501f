"""The score and comparison statistics alone, against scikit-learn, numpy and figures by hand."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

from order_service.ml import evaluation
from order_service.ml.evaluation import METRICS, Positions, compare, gate_verdict, score_quality


def positions(n: int, seed: int = 3) -> Positions:
    rng = np.random.default_rng(seed)
    score = np.round(rng.uniform(0, 1, n), 2)  # rounded: ties, as real scores have
    net = np.round(rng.normal(0, 400, n) + 600 * (score - 0.5), 2)
    return Positions(score=score, net=net, premium=np.full(n, 7500.0))


def shifted(p: Positions, rupees: float) -> Positions:
    return Positions(p.score, p.net + rupees, p.premium)


def test_score_figures_equal_scikit_learn_and_numpy() -> None:
    p = positions(500)
    win = (p.net > 0).astype(int)
    found = score_quality(p)
    assert found["auc"] == pytest.approx(roc_auc_score(win, p.score), abs=1e-9)
    assert found["brier"] == pytest.approx(brier_score_loss(win, p.score), abs=1e-9)
    clipped = np.clip(p.score, 1e-6, 1 - 1e-6)
    assert found["log_loss"] == pytest.approx(log_loss(win, clipped), abs=1e-9)
    counts, _ = np.histogram(p.score, bins=10, range=(0, 1))
    wins, _ = np.histogram(p.score, bins=10, range=(0, 1), weights=win)
    sums, _ = np.histogram(p.score, bins=10, range=(0, 1), weights=p.score)
    assert [b["count"] for b in found["calibration"]] == counts.tolist()
    for row, n, w, s in zip(found["calibration"], counts, wins, sums, strict=True):
        assert row["win_rate"] == pytest.approx(w / n, abs=1e-9)
        assert row["mean_score"] == pytest.approx(s / n, abs=1e-9)


def test_a_score_of_exactly_one_or_zero_is_clipped_in_the_log_loss() -> None:
    p = Positions(np.array([1.0, 0.0]), np.array([-10.0, 10.0]), np.array([1.0, 1.0]))
    assert evaluation.log_loss(p.score, p.win) == pytest.approx(-np.log(1e-6))


def test_intervals_are_reproducible_and_cover_the_estimate() -> None:
    p = positions(200)
    first, second = evaluation.intervals(p), evaluation.intervals(p)
    assert first == second
    for name in ("win_rate", "mean_net_pnl", "auc"):
        interval = first[name]
        assert interval["low"] < interval["estimate"] < interval["high"], name
    assert first["win_rate"]["estimate"] == pytest.approx(np.mean(p.net > 0))
    assert first["mean_net_pnl"]["estimate"] == pytest.approx(np.mean(p.net))


def test_few_positions_are_flagged() -> None:
    assert score_quality(positions(29))["insufficient_data"] is True
    assert score_quality(positions(30))["insufficient_data"] is False


def test_deciles_split_by_score_with_their_net_and_return() -> None:
    p = Positions(np.arange(20) / 20, np.arange(20) * 10.0, np.full(20, 100.0))
    deciles = evaluation.by_decile(p)
    assert [d["count"] for d in deciles] == [2] * 10
    assert deciles[0]["net_pnl"] == 10.0 and deciles[-1]["net_pnl"] == 370.0
    assert deciles[-1]["net_return"] == pytest.approx(370 / 200)


def test_a_candidate_one_hundred_rupees_better_per_position() -> None:
    base = positions(300)
    better = shifted(base, 100)
    found = compare(METRICS["mean_net_pnl"], base, better)
    assert found.difference == pytest.approx(100)
    assert found.low is not None and found.high is not None and found.low < 100 < found.high
    assert gate_verdict(300, 300, found.low, 0, 30) == "pass"  # σ ≈ 430: 300 are enough
    assert gate_verdict(300, 300, found.low, 200, 30) == "fail"
    few = compare(METRICS["mean_net_pnl"], positions(40), shifted(positions(40), 100))
    assert few.low is not None and few.low < 0  # 40 are not: the interval reaches below zero
    assert found.p_value is not None and 0 < found.p_value <= 1
    assert compare(METRICS["mean_net_pnl"], base, better) == found  # seeded


def test_the_gate_verdicts() -> None:
    assert gate_verdict(10, 40, 5.0, 0, 30) == "insufficient_data"
    assert gate_verdict(40, 40, 5.0, 0, 30) == "pass"
    assert gate_verdict(40, 40, -5.0, 0, 30) == "fail"
    assert gate_verdict(40, 40, None, 0, 30) == "fail"


def test_return_on_margin_is_known_but_unavailable_without_margins() -> None:
    metric = METRICS["return_on_margin"]
    reason = evaluation.unavailable_reason(metric, positions(5))
    assert reason is not None and "margin" in reason
    with_margin = Positions(*np.ones((3, 4)), margin=np.full(4, 2.0))
    assert evaluation.unavailable_reason(metric, with_margin) is None
    assert compare(metric, with_margin, with_margin).baseline == pytest.approx(0.5)


def test_auc_permutation_and_bootstrap_run_in_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    p = positions(120)
    whole = compare(METRICS["auc"], p, positions(120, seed=4))
    monkeypatch.setattr(evaluation, "_BLOCK_CELLS", 12_000)  # 100 resamples per block
    blocked = compare(METRICS["auc"], p, positions(120, seed=4))
    assert blocked.difference == whole.difference
    assert blocked.low is not None and whole.low is not None
