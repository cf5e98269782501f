"""`feature_drift`: a session whose `rsi` moved by three reference standard deviations warns and
names `rsi`; an unshifted one does not; it fails only when asked to."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from optrade.domain import IST
from quality_service import drift
from quality_service.dashboard import render_dashboard
from quality_service.report import render_text
from quality_service.runs import run_scheduled_check
from quality_service.schemas import CheckResult
from quality_service.settings import QualitySettings
from quality_service.status import quality_status, to_public
from tests.quality_service.conftest import NOW, TRADING_DAY
from tests.support.factories import insert_trades, trade_values

REFERENCE_DAYS = [date(2025, 11, 24) + timedelta(days=i) for i in range(5)]  # Mon..Fri
RSI_MEAN, RSI_SD = 50.0, 10.0


def _trades(day: date, rsi: np.ndarray, vix: np.ndarray, version: str = "v1") -> list[dict]:
    opened = datetime.combine(day, datetime.min.time(), tzinfo=IST) + timedelta(hours=10)
    return [
        trade_values(
            opened_at=opened,
            held=timedelta(minutes=30),
            model_version=version,
            mode="live",
            features_snapshot={"rsi": float(r), "vix": float(v), "regime": "calm", "flag": True},
        )  # fmt: skip
        for r, v in zip(rsi, vix, strict=True)
    ]


def _store(engine: Engine, rsi_shift: float) -> None:
    rng = np.random.default_rng(17)
    rows = []
    for day in REFERENCE_DAYS:  # 5 × 200 reference trades of v1
        rows += _trades(day, rng.normal(RSI_MEAN, RSI_SD, 200), rng.normal(14, 1, 200))
    session = rng.normal(RSI_MEAN + rsi_shift, RSI_SD, 300)
    rows += _trades(TRADING_DAY, session, rng.normal(14, 1, 300))
    insert_trades(engine, rows)


def _drift(clean_db: Engine, settings: QualitySettings) -> tuple[CheckResult, str]:
    outcome = run_scheduled_check(clean_db, TRADING_DAY, now=NOW, settings=settings)
    public = to_public(outcome.run)
    check = next(c for c in public.checks if c.name == drift.NAME)
    return check, render_text(public)


def test_a_three_sigma_shift_of_rsi_warns_and_names_rsi(clean_db: Engine) -> None:
    _store(clean_db, 3 * RSI_SD)
    check, report = _drift(clean_db, QualitySettings())
    assert check.status == "warn" and check.drifted_features == ["rsi"]
    by_feature = {d.feature: d for d in check.drift}
    assert set(by_feature) == {"rsi", "vix"}  # numbers only: no string or boolean feature
    assert by_feature["rsi"].psi > 0.25 and by_feature["rsi"].ks > 0.8
    assert by_feature["vix"].psi < 0.1
    assert (by_feature["rsi"].reference_n, by_feature["rsi"].session_n) == (1000, 300)
    assert "Drifted: rsi (v1)" in report and "Drifted: vix" not in report
    with Session(clean_db) as session:
        status = quality_status(session, NOW)
    assert '<p id="drift" class="warn">Feature drift: rsi</p>' in render_dashboard(status, [])


def test_an_unshifted_session_does_not_warn(clean_db: Engine) -> None:
    _store(clean_db, 0.0)
    check, _ = _drift(clean_db, QualitySettings())
    assert check.status == "pass" and check.drifted_features == []
    assert (check.total, check.passed) == (2, 2)


def test_drift_fails_the_run_only_when_asked(clean_db: Engine) -> None:
    _store(clean_db, 3 * RSI_SD)
    check, _ = _drift(clean_db, QualitySettings(drift_fails=True))
    assert check.status == "fail" and check.drifted_features == ["rsi"]


def test_the_reference_is_the_versions_first_trading_days(clean_db: Engine) -> None:
    """Only the first 2 of 5 reference days count with QUALITY_DRIFT_REFERENCE_DAYS=2."""
    _store(clean_db, 0.0)
    check, _ = _drift(clean_db, QualitySettings(drift_reference_days=2))
    assert {d.reference_n for d in check.drift} == {400}


def test_psi_by_hand() -> None:
    """Reference deciles 0..9 (10 each); a session all in the top bin: PSI by the formula."""
    reference = np.repeat(np.arange(10.0), 10)
    current = np.full(50, 9.0)
    p, q = np.full(10, 0.1), np.r_[np.full(9, 1e-4), 1.0]
    assert drift.psi(reference, current) == pytest.approx(float(np.sum((q - p) * np.log(q / p))))
    assert drift.psi(reference, reference) == 0.0


def test_each_side_reads_at_most_drift_max_trades(clean_db: Engine) -> None:
    """1000 reference and 300 session trades, at most 100 read each (every n-th id): the
    shift is still found (at 100 values PSI's noise alone nears 0.1: vix is not asserted)."""
    _store(clean_db, 3 * RSI_SD)
    check, _ = _drift(clean_db, QualitySettings(drift_max_trades=100))
    rsi = next(d for d in check.drift if d.feature == "rsi")
    assert 90 <= rsi.reference_n <= 100 and 90 <= rsi.session_n <= 100
    assert "rsi" in check.drifted_features and rsi.psi is not None and rsi.psi > 0.25
