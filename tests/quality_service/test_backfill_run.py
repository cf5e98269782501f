"""The daily backfill re-check: queued by the check that stores a trading day's run, stored once per
date as a `backfill` run that carries the coverage before the repair, and counting repaired
snapshots separately."""

from __future__ import annotations

from datetime import date

import httpx
import pytest
from sqlalchemy import Engine, update
from sqlmodel import Session

from optrade.db.models import QualityRun, Trade
from quality_service import celery_app
from quality_service.celeryconfig import BACKFILL_TASK, beat_schedule
from quality_service.history import find_backfill
from quality_service.report import render_text
from quality_service.runs import run_backfill_check, run_scheduled_check
from quality_service.status import to_public
from tests.quality_service.conftest import NOW, TRADING_DAY, TradeFactory

REPORT = {"batches": 1, "entry": {"repaired": 0}, "exit": {"repaired": 2}}


def test_the_check_that_stores_a_trading_day_queues_its_backfill(
    clean_db: Engine, add_trades: TradeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    queued: list[str] = []
    monkeypatch.setattr(celery_app.backfill_and_recheck, "delay", queued.append)
    monkeypatch.setattr(celery_app.resources, "_engine", clean_db)
    add_trades(2)
    celery_app.run_scheduled.run(TRADING_DAY.isoformat())
    celery_app.run_scheduled.run(TRADING_DAY.isoformat())  # a duplicate trigger queues nothing
    celery_app.run_scheduled.run(date(2025, 12, 25).isoformat())  # a holiday: skipped, nothing
    assert queued == [TRADING_DAY.isoformat()]
    assert celery_app.backfill_and_recheck.name == BACKFILL_TASK
    assert BACKFILL_TASK not in {e["task"] for e in beat_schedule().values()}  # chained, not timed


def test_a_successful_backfill_is_stored_once_per_date_a_failed_one_can_be_retried(
    clean_db: Engine, add_trades: TradeFactory
) -> None:
    add_trades(2)
    failed = run_backfill_check(clean_db, TRADING_DAY, {"error": "ConnectError: refused"}, now=NOW)
    first = run_backfill_check(clean_db, TRADING_DAY, REPORT, now=NOW)
    again = run_backfill_check(clean_db, TRADING_DAY, REPORT, now=NOW)
    assert (failed.created, first.created, again.created) == (True, True, False)
    assert again.run.id == first.run.id and failed.run.id != first.run.id
    assert find_backfill(clean_db, TRADING_DAY).id == first.run.id  # type: ignore[union-attr]


def test_backfill_run_reports_coverage_before_and_counts_backfilled_separately(
    clean_db: Engine, add_trades: TradeFactory
) -> None:
    add_trades(6)
    missing_ids = add_trades(4, exit_delta=None, exit_source="missing")
    before = run_scheduled_check(clean_db, TRADING_DAY, now=NOW).run

    # What the backfill does to two of the four: their exit snapshot is repaired.
    with clean_db.begin() as conn:
        conn.execute(
            update(Trade)
            .where(Trade.id.in_(missing_ids[:2]))  # type: ignore[attr-defined]
            .values(exit_delta=0.4, exit_source="backfill")
        )

    after = to_public(run_backfill_check(clean_db, TRADING_DAY, REPORT, now=NOW).run)
    checks = {c.name: c for c in after.checks}
    assert after.trigger == "backfill" and after.trading_date == TRADING_DAY
    assert after.before_run_id == before.id
    assert after.backfill == REPORT
    assert after.coverage_before is not None
    assert after.coverage_before["exit_greeks"] == 60.0
    assert (checks["exit_greeks"].passed, checks["exit_greeks"].coverage) == (8, 80.0)
    assert checks["exit_greeks"].backfilled == 2
    assert checks["market_context"].backfilled == 2  # reads the exit snapshot too
    assert checks["entry_greeks"].backfilled == 0  # the entry snapshots were live
    assert checks["ml_metadata"].backfilled == 0

    text = render_text(after)
    assert "Before backfill: 60.0%" in text
    assert "Complete thanks to backfill: 2 of 8" in text


def test_a_failed_backfill_still_rechecks_and_says_why(
    clean_db: Engine, add_trades: TradeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_trades(3)

    def refused(*_: object) -> dict[str, object]:
        raise httpx.ConnectError("connection refused")

    monkeypatch.setattr(celery_app.backfill, "request_batch", refused)
    monkeypatch.setattr(celery_app.resources, "_engine", clean_db)
    run_id = celery_app.backfill_and_recheck.run(TRADING_DAY.isoformat())
    assert run_id is not None
    with Session(clean_db) as session:
        run = session.get(QualityRun, run_id)
        assert run is not None
        assert (run.trigger, run.status, run.total_trades) == ("backfill", "pass", 3)
        assert run.note == "backfill failed: ConnectError: connection refused"
        assert "before_run_id" not in run.details  # no scheduled run that day yet


def test_no_backfill_recheck_on_a_holiday(
    clean_db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def must_not_run(*_: object) -> dict[str, object]:
        raise AssertionError("backfill asked on a holiday")

    monkeypatch.setattr(celery_app.backfill, "request_batch", must_not_run)
    monkeypatch.setattr(celery_app.resources, "_engine", clean_db)
    assert celery_app.backfill_and_recheck.run(date(2025, 12, 25).isoformat()) is None
