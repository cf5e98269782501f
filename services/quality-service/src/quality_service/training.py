"""The end-of-day training hook: after a passing scheduled run, run `QUALITY_TRAINING_COMMAND` once.

A scheduled run that certifies its trades (status pass or warn, at least one trade) becomes due
for training at `QUALITY_TRAINING_AT` (16:00 IST) of its trading date, when the data of the day is
complete. The quality worker (beat's 16:00 task, and after every scheduled tick for a run caught
up later) claims each due run by writing its `training` column where it is still NULL, so two
workers never both train on one run; then it writes the run's certified trades to a local file
and runs the command with, in its environment:

- `OPTRADE_RUN_ID`, `OPTRADE_TRADING_DATE`: the run;
- `OPTRADE_EXPORT_URL`: the certified export (`/quality/runs/{id}/trades?format=parquet`);
- `OPTRADE_EXPORT_PATH`: the same trades as a local Parquet file (CSV when pyarrow is missing).

The command runs under `QUALITY_TRAINING_TIMEOUT_SECONDS`; its status (`succeeded`, `failed`,
`timed_out`, `error`), exit code, duration and the last `QUALITY_TRAINING_OUTPUT_TAIL` characters
of its output are stored on the run and shown by `/quality/status`. Anything but success sends a
failure notice through the alert channels.
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select, update
from sqlmodel import Session, col

from optrade.db.engine import session_scope
from optrade.db.models import QualityRun
from optrade.domain import utcnow
from quality_service.alerts import CERTIFYING, export_url
from quality_service.notify import Notice, Notifier
from quality_service.schedule import at_ist
from quality_service.schemas import AlertRecord, RunDetails, Trigger
from quality_service.settings import QualitySettings, get_quality_settings

log = logging.getLogger(__name__)
SUCCEEDED, FAILED, TIMED_OUT = "succeeded", "failed", "timed_out"
ERROR, RUNNING = "error", "running"  # could not start or export; claimed, not finished


def due_runs(engine: Engine, now: datetime, settings: QualitySettings) -> list[QualityRun]:
    """Passing scheduled runs not trained yet whose trading date's training time has passed."""
    statement = (
        select(QualityRun)
        .where(
            col(QualityRun.trigger) == Trigger.SCHEDULED,
            col(QualityRun.status).in_(CERTIFYING),
            col(QualityRun.training).is_(None),
            col(QualityRun.total_trades) > 0,
        )
        .order_by(col(QualityRun.id))
    )
    with Session(engine) as session:
        runs = list(session.execute(statement).scalars().all())
    return [
        run
        for run in runs
        if run.trading_date is not None and now >= at_ist(run.trading_date, settings.training_at)
    ]


def _claim(engine: Engine, run: QualityRun, now: datetime) -> bool:
    """Mark `run` as being trained, unless another worker did first."""
    claimed = {"status": RUNNING, "started_at": now.isoformat()}
    with session_scope(engine) as session:
        result = session.execute(
            update(QualityRun)
            .where(col(QualityRun.id) == run.id, col(QualityRun.training).is_(None))
            .values(training=claimed)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def write_export(engine: Engine, run: QualityRun, directory: Path) -> Path:
    """The run's certified trades as a local Parquet file, written as the API serves them."""
    # The export writer (pyarrow, numpy) is loaded only when a training run needs the file.
    from quality_service.export import write_run  # noqa: PLC0415

    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"quality-run-{run.id}-trades.parquet"
    write_run(engine, run, path)
    return path


def _tail(output: str | bytes | None, limit: int) -> str:
    text = output.decode(errors="replace") if isinstance(output, bytes) else (output or "")
    return text[-limit:]


def run_command(command: str, env: dict[str, str], settings: QualitySettings) -> dict[str, Any]:
    """Run the command (no shell) under the time limit; its outcome as stored."""
    started = time.monotonic()
    outcome: dict[str, Any]
    try:
        done = subprocess.run(  # noqa: S603 - the operator's own configured command
            shlex.split(command),
            env=os.environ | env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=settings.training_timeout_seconds,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        outcome = {"status": TIMED_OUT, "exit_code": None, "output_tail": _tail(exc.output, 10**6)}
    except OSError as exc:  # not found, not executable
        outcome = {
            "status": ERROR,
            "exit_code": None,
            "output_tail": f"{type(exc).__name__}: {exc}",
        }
    else:
        outcome = {
            "status": SUCCEEDED if done.returncode == 0 else FAILED,
            "exit_code": done.returncode,
            "output_tail": _tail(done.stdout, settings.training_output_tail),
        }
    outcome["output_tail"] = outcome["output_tail"][-settings.training_output_tail :]
    return outcome | {"duration_seconds": round(time.monotonic() - started, 3)}


def _store(
    engine: Engine, run: QualityRun, training: dict[str, Any], alert: AlertRecord | None
) -> None:
    with session_scope(engine) as session:
        stored = session.get(QualityRun, run.id)
        if stored is None:
            return
        stored.training = training
        if alert is not None:
            details = RunDetails.of(stored.details)
            details.alerts = [*details.alerts, alert]
            stored.details = details.stored()
        run.training, run.details = stored.training, stored.details


def _alert(run: QualityRun, training: dict[str, Any], notifier: Notifier | None) -> AlertRecord:
    notice = Notice(
        title=f"Optrade training FAILED after quality run #{run.id} ({run.trading_date})",
        body="\n".join(
            [
                f"status: {training['status']} (exit code {training.get('exit_code')})",
                f"command: {training['command']}",
                f"duration: {training.get('duration_seconds')} s",
                "output (tail):",
                training.get("output_tail") or "(none)",
            ]
        ),
        kind="failure",
    )
    error = (notifier or Notifier([])).send(notice)
    return AlertRecord(
        check="training", kind="training_failed", delivered=error is None, error=error
    )


def train(
    engine: Engine,
    run: QualityRun,
    *,
    now: datetime,
    settings: QualitySettings,
    notifier: Notifier | None,
) -> dict[str, Any] | None:
    """Train on `run` once: claim it, export it, run the command, store the outcome (None when
    another worker claimed it)."""
    command = settings.training_command
    if not command or not _claim(engine, run, now):
        return None
    base: dict[str, Any] = {"command": command, "started_at": now.isoformat()}
    try:
        path = write_export(engine, run, Path(settings.training_dir))
    except Exception as exc:  # noqa: BLE001 - a broken export is the training's failure, stored
        failure = f"export failed: {type(exc).__name__}: {exc}"
        training = base | {"status": ERROR, "exit_code": None, "output_tail": failure}
    else:
        env = {
            "OPTRADE_RUN_ID": str(run.id),
            "OPTRADE_TRADING_DATE": str(run.trading_date),
            "OPTRADE_EXPORT_URL": export_url(run, settings),
            "OPTRADE_EXPORT_PATH": str(path),
        }
        training = base | {"export_path": str(path)} | run_command(command, env, settings)
    log.info("training after run %s: %s (exit %s)", run.id, training["status"],
             training.get("exit_code"))  # fmt: skip
    alert = _alert(run, training, notifier) if training["status"] != SUCCEEDED else None
    _store(engine, run, training, alert)
    return training


def train_due(
    engine: Engine,
    *,
    now: datetime | None = None,
    settings: QualitySettings | None = None,
    notifier: Notifier | None = None,
) -> list[dict[str, Any]]:
    """Train once on every due run (oldest first); nothing when no command is configured."""
    settings = settings or get_quality_settings()
    if not settings.training_command:
        return []
    now = now or utcnow()
    found = []
    for run in due_runs(engine, now, settings):
        outcome = train(engine, run, now=now, settings=settings, notifier=notifier)
        if outcome is not None:
            found.append(outcome)
    return found
