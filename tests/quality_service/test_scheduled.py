"""The daily run: once per trading date (also under concurrent triggers), holidays recorded as
skipped, catch-up after downtime, and the overdue flag."""

from __future__ import annotations

import threading
import time
from datetime import date, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlmodel import Session, select

from optrade.db.models import QualityRun
from optrade.domain import IST
from quality_service.celeryconfig import beat_schedule, celery_config
from quality_service.runs import ScheduledOutcome, run_manual_check, run_scheduled_check
from quality_service.schedule import (
    latest_due_trading_date,
    next_scheduled_run,
    overdue_candidate,
    slot_date,
)
from quality_service.sessions import catch_up
from quality_service.settings import CelerySettings
from quality_service.status import quality_status
from tests.quality_service.conftest import NOW, TRADING_DAY, TradeFactory

pytestmark = pytest.mark.both_databases  # the embedded default is proven too


def _stored(engine: Engine) -> list[QualityRun]:
    with Session(engine) as session:
        return list(session.exec(select(QualityRun).order_by(QualityRun.id)).all())  # type: ignore[arg-type]


def test_a_duplicate_trigger_for_the_same_date_stores_one_run(
    clean_db: Engine, add_trades: TradeFactory
) -> None:
    add_trades(5)
    first = run_scheduled_check(clean_db, TRADING_DAY, now=NOW)
    again = run_scheduled_check(clean_db, TRADING_DAY, now=NOW)

    assert (first.created, again.created) == (True, False)
    assert again.run.id == first.run.id
    [run] = _stored(clean_db)
    assert (run.trigger, run.status, run.trading_date, run.total_trades) == (
        "scheduled", "pass", TRADING_DAY, 5,
    )  # fmt: skip
    assert run.scheduled_key == "scheduled:2025-12-02"
    # The session of Tuesday 2 Dec: from Monday's 15:45 IST check to Tuesday's.
    assert run.window_start == datetime(2025, 12, 1, 15, 45, tzinfo=IST)
    assert run.window_end == datetime(2025, 12, 2, 15, 45, tzinfo=IST)


def test_concurrent_triggers_for_the_same_date_store_one_run(
    clean_db: Engine, add_trades: TradeFactory
) -> None:
    add_trades(50)
    barrier = threading.Barrier(2)
    outcomes: list[ScheduledOutcome] = []
    errors: list[BaseException] = []
    counted: list[str] = []

    def slow_count(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        # Hold the first run's uncommitted row long enough for its twin to arrive.
        if "GROUP BY" in statement and "FROM trade" in statement:
            counted.append(statement)
            time.sleep(0.5)

    def trigger() -> None:
        try:
            barrier.wait(timeout=10)
            outcomes.append(run_scheduled_check(clean_db, TRADING_DAY, now=NOW))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=trigger) for _ in range(2)]
    event.listen(clean_db, "before_cursor_execute", slow_count)
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        event.remove(clean_db, "before_cursor_execute", slow_count)

    assert errors == []
    assert len(counted) == 1  # the twin never counted
    assert sorted(o.created for o in outcomes) == [False, True]
    assert outcomes[0].run.id == outcomes[1].run.id
    assert len(_stored(clean_db)) == 1


def test_a_holiday_is_recorded_as_skipped_once(clean_db: Engine) -> None:
    christmas = date(2025, 12, 25)  # a Thursday NSE holiday: the Mon-Fri cron still fires

    outcome = run_scheduled_check(clean_db, christmas)
    again = run_scheduled_check(clean_db, christmas)

    assert (outcome.run.status, outcome.run.total_trades) == ("skipped", 0)
    assert outcome.run.note == "2025-12-25 is not an NSE trading day"
    assert not again.created
    assert len(_stored(clean_db)) == 1


@pytest.mark.parametrize(
    "special",
    [
        date(2025, 10, 21),  # Diwali Muhurat trading, an afternoon session
        date(2025, 2, 1),  # Saturday, the Union Budget's full live session
        date(2026, 2, 1),  # Sunday, the Union Budget's full live session
    ],
)
def test_a_special_session_is_a_trading_day_for_the_checks(clean_db: Engine, special: date) -> None:
    assert run_scheduled_check(clean_db, special).run.status == "no_data"


@pytest.mark.parametrize(
    ("now_ist", "slot"),
    [
        (datetime(2025, 12, 2, 15, 45), date(2025, 12, 2)),
        (datetime(2025, 12, 2, 15, 44, 59), date(2025, 12, 2)),  # a beat clock slightly ahead
        (datetime(2025, 12, 2, 15, 30), date(2025, 12, 1)),
        (datetime(2025, 12, 3, 1, 0), date(2025, 12, 2)),  # delivered late, after midnight
        (datetime(2025, 12, 6, 16, 0), date(2025, 12, 5)),  # Saturday: Friday's slot
        (datetime(2025, 12, 25, 16, 0), date(2025, 12, 25)),  # holiday: its own (skipped) slot
    ],
)
def test_the_beat_task_runs_for_the_slot_just_reached(now_ist: datetime, slot: date) -> None:
    assert slot_date(now_ist.replace(tzinfo=IST)) == slot


@pytest.mark.parametrize(
    ("now_ist", "due", "overdue_date", "next_run"),
    [
        # Tuesday 16:00: today's slot passed, the overdue line (16:30) not yet.
        (datetime(2025, 12, 2, 16, 0), date(2025, 12, 2), date(2025, 12, 1),
         datetime(2025, 12, 3, 15, 45)),
        (datetime(2025, 12, 2, 16, 30), date(2025, 12, 2), date(2025, 12, 2),
         datetime(2025, 12, 3, 15, 45)),
        (datetime(2025, 12, 2, 9, 0), date(2025, 12, 1), date(2025, 12, 1),
         datetime(2025, 12, 2, 15, 45)),
        # Christmas (Thursday holiday): Wednesday is due; the next run is Friday.
        (datetime(2025, 12, 25, 18, 0), date(2025, 12, 24), date(2025, 12, 24),
         datetime(2025, 12, 26, 15, 45)),
    ],
)  # fmt: skip
def test_due_overdue_and_next_run_follow_the_nse_calendar(
    now_ist: datetime, due: date, overdue_date: date, next_run: datetime
) -> None:
    now = now_ist.replace(tzinfo=IST)
    assert latest_due_trading_date(now) == due
    assert overdue_candidate(now) == overdue_date
    assert next_scheduled_run(now) == next_run.replace(tzinfo=IST)


def test_catch_up_runs_the_latest_due_trading_date_once(
    clean_db: Engine, add_trades: TradeFactory
) -> None:
    add_trades(3)
    monday_morning = datetime(2025, 12, 8, 9, 0, tzinfo=IST)  # beat was down over the weekend

    caught = catch_up(clean_db, now=monday_morning)
    again = catch_up(clean_db, now=monday_morning)

    assert caught is not None and caught.created
    assert caught.run.trading_date == date(2025, 12, 5)  # Friday
    assert again is None
    assert catch_up(clean_db, now=NOW) is not None  # Tuesday 2 Dec 16:00 has its own gap
    assert [r.trading_date for r in _stored(clean_db)] == [date(2025, 12, 5), TRADING_DAY]


def test_status_reports_an_overdue_scheduled_run(
    clean_db: Engine, add_trades: TradeFactory
) -> None:
    add_trades(2)
    evening = datetime(2025, 12, 2, 17, 0, tzinfo=IST)
    assert run_scheduled_check(clean_db, date(2025, 12, 1), now=evening).created

    with Session(clean_db) as session:
        late = quality_status(session, evening)
    assert (late.overdue, late.overdue_trading_date) == (True, TRADING_DAY)
    assert late.status == "no_data"  # Monday's run found none of Tuesday's trades

    run_scheduled_check(clean_db, TRADING_DAY, now=evening)
    with Session(clean_db) as session:
        on_time = quality_status(session, evening)
    assert (on_time.overdue, on_time.overdue_trading_date, on_time.status) == (False, None, "pass")
    assert on_time.next_scheduled_run == datetime(2025, 12, 3, 15, 45, tzinfo=IST)
    assert [r.trading_date for r in on_time.recent_runs] == [TRADING_DAY, date(2025, 12, 1)]
    assert on_time.calendar_warning is None  # December 2025 is a year before coverage ends


def test_status_shows_the_last_seven_runs_newest_first(
    clean_db: Engine, add_trades: TradeFactory
) -> None:
    add_trades(1)
    ids = [run_manual_check(clean_db, now=NOW, alert=False).id for _ in range(9)]
    with Session(clean_db) as session:
        status = quality_status(session, NOW)
    assert [r.id for r in status.recent_runs] == ids[::-1][:7]
    assert status.latest_run is not None and status.latest_run.id == ids[-1]


def test_status_before_any_run_is_never_run(clean_db: Engine) -> None:
    with Session(clean_db) as session:
        status = quality_status(session, datetime(2026, 11, 25, 12, 0, tzinfo=IST))
    assert (status.status, status.latest_run, status.checks) == ("never_run", None, [])
    assert status.calendar_warning is not None and "2026-12-31" in status.calendar_warning


def test_schedule_config_is_mon_fri_1545_ist_with_a_catch_up_deadline() -> None:
    entry = beat_schedule()["daily-quality-check"]
    cron = entry["schedule"]
    assert entry["task"] == "quality.run_scheduled"
    assert (cron.hour, cron.minute, cron.day_of_week) == ({15}, {45}, {1, 2, 3, 4, 5})
    config = celery_config(CelerySettings(broker_url="redis://x:6379/0"))
    assert config["timezone"] == "Asia/Kolkata"
    assert config["task_acks_late"] and config["task_reject_on_worker_lost"]
    assert config["beat_cron_starting_deadline"] > 8 * 3600


def test_tasks_are_thin_late_acked_wrappers_that_take_primitives() -> None:
    import inspect

    from quality_service.celery_app import app, catch_up, run_manual, run_scheduled

    for task in (run_scheduled, run_manual, catch_up):
        assert task.acks_late and task.reject_on_worker_lost, task.name
        parameters = inspect.signature(task.run).parameters.values()
        assert all(p.annotation in ("str | None", "int") for p in parameters), task.name
    assert app.conf.timezone == "Asia/Kolkata"
    assert "daily-quality-check" in app.conf.beat_schedule


def test_every_task_has_soft_and_hard_limits_and_redis_outwaits_the_longest() -> None:
    from quality_service.celery_app import app

    settings = CelerySettings(broker_url="redis://x:6379/0")
    config = celery_config(settings)
    limits = config["task_annotations"]
    assert set(limits) == {task for task in app.tasks if task.startswith("quality.")}
    assert all(0 < lim["soft_time_limit"] < lim["time_limit"] for lim in limits.values())
    longest = max(lim["time_limit"] for lim in limits.values())
    assert config["broker_transport_options"]["visibility_timeout"] > longest
    assert celery_config(CelerySettings())["broker_transport_options"] == {}  # SQLite: none
    with pytest.raises(ValueError, match="CELERY_CHECK_SOFT_TIME_LIMIT_SECONDS"):
        CelerySettings(check_soft_time_limit_seconds=60, check_time_limit_seconds=60)


def test_the_quality_beat_schedules_no_settlement() -> None:
    """Settlement belongs to the order engine (`python -m order_service.engine`); the beat keeps
    the daily check and the end-of-day training, and the `open_past_expiry` check still counts
    stranded positions."""
    from quality_service import celery_app

    tasks = {entry["task"] for entry in beat_schedule().values()}
    assert tasks == {"quality.run_scheduled", "quality.train_due"}
    assert not [name for name in celery_app.app.tasks if "settle" in name]
