"""Score quality of positions placed through the API on the real NSE snapshots, and the A/B
comparison and regression gate over HTTP and from the `optrade` CLI."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score
from sqlalchemy import Engine

from optrade.domain import IST
from optrade.settings import reset_all_settings
from order_service.main import create_app
from tests.conftest import TEST_API_KEY
from tests.support.factories import OPENED_AT, insert_trades, trade_values
from tests.support.orders_processes import AUTH
from tests.support.processes import ServiceProcess
from tests.support.quotes import answer_quotes, in_process, served_client

OPTRADE = str(Path(sys.executable).parent / "optrade")
MORNING = datetime(2025, 12, 2, 9, 34, 45, tzinfo=IST).isoformat()
AFTERNOON = datetime(2025, 12, 2, 15, 13, 29, tzinfo=IST).isoformat()
CONTRACTS = [(strike, kind) for strike in range(25700, 26501, 50) for kind in ("CE", "PE")]


@pytest.fixture(scope="module")
def replayed(orders_on_replay: ServiceProcess) -> Iterator[httpx.Client]:
    """34 replay positions of NIFTY 02-Dec-2025, bought at 09:34:45 and sold at 15:13:29, each
    with a chosen score (the last four: a second partial close)."""
    scores = np.round(np.random.default_rng(11).uniform(0.05, 0.95, len(CONTRACTS)), 2)
    with httpx.Client(base_url=orders_on_replay.url, headers=AUTH, timeout=60) as api:
        for i, ((strike, kind), score) in enumerate(zip(CONTRACTS, scores, strict=True)):
            body = {
                "underlying": "NIFTY", "expiry": "2025-12-02", "strike": strike,
                "option_type": kind, "side": "BUY", "quantity": 2, "ml_score": float(score),
                "model_version": "eval-v1", "model_hash": "e1e1e1e1", "features_snapshot": {"i": i},
                "as_of": MORNING,
            }  # fmt: skip
            opened = api.post("/v1/orders", json=body)
            assert opened.status_code == 201, opened.text
            position_id = opened.json()["position"]["id"]
            lots = [1, 1] if i >= len(CONTRACTS) - 4 else [2]
            for part in lots:
                closed = api.post(
                    f"/v1/positions/{position_id}/close", json={"as_of": AFTERNOON, "lots": part}
                )
                assert closed.status_code == 200, closed.text
        yield api


@pytest.mark.slow
def test_score_figures_equal_scikit_learn_on_the_export(replayed: httpx.Client) -> None:
    params = {"mode": "replay", "model_version": "eval-v1"}
    report = replayed.get("/v1/models/performance", params=params)
    assert report.status_code == 200, report.text
    (model,) = report.json()["models"]
    export = replayed.get("/v1/trades/export", params={**params, "format": "csv"})
    trades = pd.read_csv(io.BytesIO(export.content))
    assert len(trades) == 38 and trades["net_pnl"].notna().all()
    per_position = trades.groupby("position_id").agg(
        net=("net_pnl", "sum"), score=("ml_score", "first")
    )
    win = (per_position["net"] > 0).astype(int).to_numpy()
    score = per_position["score"].to_numpy()
    assert 0 < win.sum() < len(win)  # both classes: the AUC is defined
    assert (model["positions"], model["scored_positions"]) == (34, 34)
    assert model["insufficient_data"] is False
    assert model["auc"] == pytest.approx(roc_auc_score(win, score), abs=1e-9)
    assert model["brier"] == pytest.approx(brier_score_loss(win, score), abs=1e-9)
    assert model["log_loss"] == pytest.approx(
        log_loss(win, np.clip(score, 1e-6, 1 - 1e-6)), abs=1e-9
    )
    counts, _ = np.histogram(score, bins=10, range=(0, 1))
    wins, _ = np.histogram(score, bins=10, range=(0, 1), weights=win)
    sums, _ = np.histogram(score, bins=10, range=(0, 1), weights=score)
    assert [b["count"] for b in model["calibration"]] == counts.tolist()
    for row, n, w, s in zip(model["calibration"], counts, wins, sums, strict=True):
        assert row["win_rate"] == (pytest.approx(w / n, abs=1e-9) if n else None)
        assert row["mean_score"] == (pytest.approx(s / n, abs=1e-9) if n else None)
    intervals = model["intervals"]
    assert intervals["win_rate"]["estimate"] == pytest.approx(win.mean())
    assert intervals["mean_net_pnl"]["estimate"] == pytest.approx(per_position["net"].mean())
    assert intervals["win_rate"]["low"] <= win.mean() <= intervals["win_rate"]["high"]
    again = replayed.get("/v1/models/performance", params=params).json()["models"][0]
    assert again["intervals"] == intervals


# --- the gate: factory trades whose P&L a test chooses -----------------------------------------


def _arm(version: str, net: np.ndarray, start: datetime) -> list[dict[str, Any]]:
    """One closed position per value of `net` (rupees, net of ₹20 charges; a multiple of ₹0.50,
    so the exit price of 1 lot of 50 is an exact paisa), five minutes apart."""
    return [
        trade_values(
            model_version=version,
            model_hash=f"{version}-h",
            lot_size=50,
            opened_at=start + timedelta(minutes=5 * i),
            exit_price=str(Decimal("100.00") + Decimal(str(value + 20)) / 50),
            charges=Decimal("20.00"),
            mode="live",
        )  # fmt: skip
        for i, value in enumerate(net)
    ]


@pytest.fixture(scope="module")
def gate_trades(engine: Engine) -> None:
    """base-v1 and cand-v1 (120 positions each; candidate = baseline + ₹100 per position), and
    few-a / few-b with 10 positions each."""
    rng = np.random.default_rng(5)
    base = np.round(rng.normal(0, 60, 120) * 2) / 2
    rows = _arm("base-v1", base, OPENED_AT) + _arm("cand-v1", base + 100, OPENED_AT)
    rows += _arm("few-a", base[:10], OPENED_AT) + _arm("few-b", base[:10] + 100, OPENED_AT)
    for row in rows:
        row["net_pnl"] = row["pnl"] - row["charges"]
    assert rows[120]["net_pnl"] - rows[0]["net_pnl"] == 100
    insert_trades(engine, rows)


@pytest.fixture(scope="module")
def api(database_url: str, gate_trades: None) -> Iterator[Any]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATABASE_URL", database_url)
        reset_all_settings()
        with (
            served_client(answer_quotes) as market_data,
            in_process(create_app(market_data=market_data)) as client,
        ):
            yield client


def _gate(api: Any, **params: Any) -> dict[str, Any]:
    query = {"baseline": "base-v1", "candidate": "cand-v1", "metric": "mean_net_pnl"} | params
    response = api.get("/v1/models/gate", params=query)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_a_candidate_one_hundred_rupees_better_passes_at_zero_and_fails_at_200(api: Any) -> None:
    passed = _gate(api, min_delta=0)
    assert passed["verdict"] == "pass"
    assert passed["difference"] == pytest.approx(100, abs=1e-6)
    assert (passed["baseline"]["n"], passed["candidate"]["n"]) == (120, 120)
    assert 0 <= passed["low"] < 100 < passed["high"] < 200
    assert passed["p_value"] < 0.01
    assert _gate(api, min_delta=200)["verdict"] == "fail"
    assert _gate(api, min_delta=0) == passed  # seeded: the same answer twice


def test_ten_positions_per_arm_are_insufficient(api: Any) -> None:
    few = _gate(api, baseline="few-a", candidate="few-b", min_delta=0)
    assert few["verdict"] == "insufficient_data" and few["baseline"]["n"] == 10


def test_compare_reports_each_arm_and_the_window_both_traded(api: Any) -> None:
    response = api.get(
        "/v1/models/compare",
        params={"baseline": "base-v1", "candidate": "cand-v1", "metric": "win_rate"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["metric"] == "win_rate" and body["baseline"]["n"] == 120
    assert body["closed_from"] is not None and body["closed_to"] is not None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"metric": "return_on_margin", "min_delta": 0}, "metric"),
        ({"metric": "sharpe", "min_delta": 0}, "metric"),
        ({"min_delta": "lots"}, "min_delta"),
        ({"min_delta": 0, "min_n": 0}, "min_n"),
        ({"min_delta": 0, "baseline": ""}, "baseline"),
    ],
)
def test_bad_gate_input_is_a_422_naming_the_field(
    api: Any, params: dict[str, Any], field: str
) -> None:
    query = {"baseline": "base-v1", "candidate": "cand-v1", "metric": "mean_net_pnl"} | params
    response = api.get("/v1/models/gate", params=query)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in {error["field"] for error in response.json()["errors"]}


# --- the CLI: exit codes 0 pass, 1 fail, 3 insufficient, 2 usage ---------------------------------


@pytest.fixture(scope="module")
def order_url(database_url: str, gate_trades: None) -> Iterator[str]:
    env = {"DATABASE_URL": database_url, "API_KEY": TEST_API_KEY, "APP_ENV": "test"}
    with ServiceProcess("order_service.main:create_app", env=env) as order:
        yield order.url


def _cli(order_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [OPTRADE, "--order-url", order_url, "models", "gate", *args],
        capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip


@pytest.mark.slow
def test_the_cli_gate_exit_codes_and_table(order_url: str) -> None:
    arms = ["--baseline", "base-v1", "--candidate", "cand-v1", "--metric", "mean_net_pnl"]
    passed = _cli(order_url, *arms, "--min-delta", "0")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "verdict" in passed.stdout and "pass" in passed.stdout
    assert "base-v1" in passed.stdout and "120" in passed.stdout
    assert _cli(order_url, *arms, "--min-delta", "200").returncode == 1
    few = ["--baseline", "few-a", "--candidate", "few-b", "--min-delta", "0"]
    assert _cli(order_url, *few).returncode == 3
    assert _cli(order_url, *arms).returncode == 2  # --min-delta is required
    wrong = _cli(order_url, *arms[:4], "--metric", "sharpe", "--min-delta", "0")
    assert wrong.returncode == 2 and "metric" in wrong.stderr
