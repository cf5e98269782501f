"""The end-of-day training hook on a simulated clock: the example trains once on a passing
scheduled run at 16:00 IST and its AUC line is stored; a failing command alerts."""

from __future__ import annotations

import shlex
import sys
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
from sqlalchemy import Engine
from sqlmodel import Session

from optrade.db.models import QualityRun
from optrade.domain import IST
from quality_service import training
from quality_service.celeryconfig import TRAINING_TASK, beat_schedule
from quality_service.dashboard import render_dashboard
from quality_service.notify import Notice, Notifier
from quality_service.runs import run_scheduled_check
from quality_service.settings import QualitySettings
from quality_service.status import quality_status, to_public
from tests.quality_service.conftest import TRADING_DAY
from tests.support.factories import insert_trades, trade_values

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "train_on_export.py"
CHECKED = datetime(2025, 12, 2, 15, 45, tzinfo=IST)


class Recorder:
    """An alert channel that keeps what it was sent."""

    name = "recorder"

    def __init__(self) -> None:
        self.notices: list[Notice] = []

    def send(self, notice: Notice) -> None:
        self.notices.append(notice)


def _session_trades(engine: Engine) -> None:
    """200 trades of the session: a higher `rsi` makes a win likelier (something to learn)."""
    rng = np.random.default_rng(23)
    rsi = rng.normal(50, 10, 200)
    wins = rng.uniform(size=200) < 1 / (1 + np.exp(-(rsi - 50) / 5))
    opened = datetime(2025, 12, 2, 9, 30, tzinfo=IST)
    insert_trades(engine, [
        trade_values(
            opened_at=opened + timedelta(minutes=i), held=timedelta(minutes=60), mode="live",
            exit_price="110.00" if win else "92.00", features_snapshot={"rsi": float(r)},
            charges=Decimal("40.00"),
            net_pnl=(Decimal("750.00") if win else Decimal("-600.00")) - Decimal("40.00"),
        )
        for i, (r, win) in enumerate(zip(rsi, wins, strict=True))
    ])  # fmt: skip


def _settings(tmp_path: Path, command: str) -> QualitySettings:
    return QualitySettings(
        training_command=command, training_dir=str(tmp_path), training_timeout_seconds=120
    )


def test_the_example_trains_once_after_the_passing_scheduled_run(
    clean_db: Engine, tmp_path: Path
) -> None:
    _session_trades(clean_db)
    settings = _settings(tmp_path, f"{shlex.quote(sys.executable)} {shlex.quote(str(EXAMPLE))}")
    run = run_scheduled_check(clean_db, TRADING_DAY, now=CHECKED, settings=settings).run
    assert run.status == "pass" and run.total_trades == 200

    before = training.train_due(clean_db, now=CHECKED + timedelta(minutes=14), settings=settings)
    assert before == []  # 15:59 IST: not yet
    (done,) = training.train_due(clean_db, now=CHECKED + timedelta(minutes=15), settings=settings)
    assert (done["status"], done["exit_code"]) == ("succeeded", 0), done["output_tail"]
    assert "held-out AUC: " in done["output_tail"] and done["duration_seconds"] > 0
    assert Path(done["export_path"]).suffix == ".parquet"
    again = training.train_due(clean_db, now=CHECKED + timedelta(hours=2), settings=settings)
    assert again == []  # once per run

    with Session(clean_db) as session:
        stored = session.get(QualityRun, run.id)
        assert stored is not None and stored.training is not None
        assert stored.training["exit_code"] == 0
        shown = to_public(stored).training
        status = quality_status(session, CHECKED + timedelta(hours=1))
    assert shown is not None and "held-out AUC" in (shown.output_tail or "")
    assert status.latest_run is not None and status.latest_run.training is not None
    assert status.latest_run.training.status == "succeeded"
    shown_on_dashboard = f'<p id="training">Training after run #{run.id}: succeeded (exit 0)</p>'
    assert shown_on_dashboard in render_dashboard(status, [])


def test_a_failing_command_alerts(clean_db: Engine, tmp_path: Path) -> None:
    _session_trades(clean_db)
    command = f"{shlex.quote(sys.executable)} -c 'import sys; print(\"no GPU\"); sys.exit(3)'"
    settings = _settings(tmp_path, command)
    run = run_scheduled_check(clean_db, TRADING_DAY, now=CHECKED, settings=settings).run
    channel = Recorder()
    (done,) = training.train_due(
        clean_db, now=CHECKED + timedelta(minutes=20), settings=settings,
        notifier=Notifier([channel]),
    )  # fmt: skip
    assert (done["status"], done["exit_code"]) == ("failed", 3)
    (notice,) = channel.notices
    assert notice.kind == "failure" and f"#{run.id}" in notice.title
    assert "no GPU" in notice.body and "exit code 3" in notice.body
    with Session(clean_db) as session:
        stored = session.get(QualityRun, run.id)
        assert stored is not None
        alerts = to_public(stored).alerts
    assert {"check": "training", "kind": "training_failed", "delivered": True} in alerts


def test_a_command_past_its_time_limit_is_stopped(clean_db: Engine, tmp_path: Path) -> None:
    _session_trades(clean_db)
    settings = _settings(
        tmp_path, f"{shlex.quote(sys.executable)} -c 'import time; time.sleep(30)'"
    )
    settings = settings.model_copy(update={"training_timeout_seconds": 1})
    run_scheduled_check(clean_db, TRADING_DAY, now=CHECKED, settings=settings)
    (done,) = training.train_due(clean_db, now=CHECKED + timedelta(hours=1), settings=settings)
    assert done["status"] == "timed_out" and done["exit_code"] is None
    assert done["duration_seconds"] < 10


def test_no_command_no_training(clean_db: Engine, tmp_path: Path) -> None:
    _session_trades(clean_db)
    settings = QualitySettings(training_dir=str(tmp_path))
    run_scheduled_check(clean_db, TRADING_DAY, now=CHECKED, settings=settings)
    assert training.train_due(clean_db, now=CHECKED + timedelta(hours=1), settings=settings) == []


def test_beat_schedules_the_training_at_16_00_ist() -> None:
    entry = beat_schedule()["end-of-day-training"]
    assert entry["task"] == TRAINING_TASK
    assert entry["schedule"].hour == {16} and entry["schedule"].minute == {0}
