"""Trading sessions, none skipped: the daily run, every missed date, and re-checks of late trades.

`run_due` is what beat's 15:45 task and the start-up catch-up do: check every trading date whose
15:45 IST has passed without a scheduled run (oldest first, bounded by QUALITY_CATCH_UP_MAX_DAYS),
then re-check every checked date into whose window a trade has closed since (a late backdated
close, a close committed just after the run): the re-check counts only those trades, so every
trade is counted by exactly one scheduled or re-check run.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from optrade.calendar import is_trading_day, trading_days
from optrade.db.models import QualityRun
from optrade.domain import utcnow
from quality_service.history import EVALUATED
from quality_service.notify import Notifier
from quality_service.runs import (
    ScheduledOutcome,
    _new_run,
    _store_evaluated,
    _stored_twin,
    finish_run,
    run_scheduled_check,
)
from quality_service.schedule import (
    latest_due_trading_date,
    session_label,
    session_window,
    slot_date,
)
from quality_service.schemas import RunDetails, Trigger
from quality_service.scope import IdRanges, merge, run_condition
from quality_service.settings import QualitySettings, get_quality_settings

log = logging.getLogger(__name__)
COUNTING = (Trigger.SCHEDULED, Trigger.RECHECK)


def _date_runs(session: Session, first: date) -> list[QualityRun]:
    """Scheduled and re-check runs of trading dates from `first` on, oldest first."""
    statement = (
        select(QualityRun)
        .where(col(QualityRun.trigger).in_(COUNTING), col(QualityRun.trading_date) >= first)
        .order_by(col(QualityRun.id))
    )
    return list(session.exec(statement).all())


def missed_dates(engine: Engine, due: date, max_days: int) -> list[date]:
    """Trading dates up to `due` without a scheduled run, oldest first.

    Looks back at most `max_days` days and never before the first scheduled run stored (a new
    installation starts at `due`), so an outage of any length up to the bound leaves no gap.
    """
    with Session(engine) as session:
        first = session.exec(select(func.min(QualityRun.trading_date)).where(
            QualityRun.trigger == Trigger.SCHEDULED)).one()  # fmt: skip
        stored = {
            run.trading_date for run in _date_runs(session, due - timedelta(days=max_days))
            if run.trigger == Trigger.SCHEDULED
        }  # fmt: skip
    start = due if first is None else max(first, due - timedelta(days=max_days))
    candidates = {*trading_days(start, due), due}  # `due` itself even if older than the first
    return sorted(day for day in candidates if day not in stored)


def _counted_by_date(engine: Engine, since: date) -> dict[date, tuple[IdRanges, int]]:
    """Per checked trading date: the ids its runs counted and how many re-checks it had."""
    found: dict[date, tuple[IdRanges, int]] = {}
    with Session(engine) as session:
        for run in _date_runs(session, since):
            details = RunDetails.of(run.details)
            if run.trading_date is None or run.status not in EVALUATED:
                continue
            if details.counted_ids is None:  # stored before runs recorded their trades
                continue
            ranges, rechecks = found.get(run.trading_date, ([], 0))
            found[run.trading_date] = (
                merge(ranges, details.counted_ids),
                rechecks + (run.trigger == Trigger.RECHECK),
            )
    return found


def _late_trades(engine: Engine, day: date, counted: IdRanges) -> int:
    statement = select(func.count()).where(run_condition(session_window(day), counted))
    with Session(engine) as session:
        return int(session.exec(statement).one())  # type: ignore[call-overload]


def run_recheck(
    engine: Engine,
    day: date,
    counted: IdRanges,
    number: int,
    *,
    now: datetime,
    settings: QualitySettings,
    notifier: Notifier | None,
) -> ScheduledOutcome:
    """Count the trades of `day`'s window that no run of that date counted; store a re-check."""
    window, label = session_window(day), session_label(day)
    run = _new_run(Trigger.RECHECK, window, label, now, settings, recheck=number)
    run.trading_date = day
    run.scheduled_key = f"recheck:{day.isoformat()}:{number}"
    try:
        _store_evaluated(engine, run, settings, exclude=counted)
    except IntegrityError as exc:
        return _stored_twin(engine, run, exc)
    log.info("re-check %s of %s: %s trades, %s", run.id, day, run.total_trades, run.status)
    finish_run(engine, run, settings=settings, notifier=notifier)
    return ScheduledOutcome(run, created=True)


def run_rechecks(
    engine: Engine, *, now: datetime, settings: QualitySettings, notifier: Notifier | None
) -> list[ScheduledOutcome]:
    """Re-check every checked date (within the look-back) that has trades no run counted."""
    since = now.date() - timedelta(days=settings.recheck_lookback_days)
    outcomes = []
    for day, (counted, rechecks) in sorted(_counted_by_date(engine, since).items()):
        if _late_trades(engine, day, counted):
            outcomes.append(
                run_recheck(
                    engine,
                    day,
                    counted,
                    rechecks + 1,
                    now=now,
                    settings=settings,
                    notifier=notifier,
                )  # fmt: skip
            )
    return outcomes


def run_due(
    engine: Engine,
    *,
    now: datetime | None = None,
    due: date | None = None,
    on_time: date | None = None,
    settings: QualitySettings | None = None,
    notifier: Notifier | None = None,
) -> list[ScheduledOutcome]:
    """Every trading date up to `due` (default: the latest whose 15:45 IST has passed) without
    a scheduled run, oldest first, then the re-checks; `on_time` is the one not missed."""
    settings = settings or get_quality_settings()
    now = now or utcnow()
    due = due or latest_due_trading_date(now)
    outcomes = []
    for day in missed_dates(engine, due, settings.catch_up_max_days):
        if day != on_time:
            log.warning("scheduled quality run for %s is missing: catching up", day)
        outcomes.append(
            run_scheduled_check(
                engine, day, now=now, settings=settings, notifier=notifier, missed=day != on_time
            )  # fmt: skip
        )
    return outcomes + run_rechecks(engine, now=now, settings=settings, notifier=notifier)


def scheduled_tick(
    engine: Engine,
    *,
    now: datetime | None = None,
    settings: QualitySettings | None = None,
    notifier: Notifier | None = None,
) -> list[ScheduledOutcome]:
    """What beat's 15:45 IST task does: the slot just reached (a holiday is stored as skipped),
    every missed trading date before it, then the re-checks."""
    now = now or utcnow()
    slot = slot_date(now)
    outcomes = []
    if not is_trading_day(slot):
        outcomes.append(
            run_scheduled_check(engine, slot, now=now, settings=settings, notifier=notifier)
        )
    trading = is_trading_day(slot)
    return outcomes + run_due(
        engine, now=now, due=slot if trading else None, on_time=slot if trading else None,
        settings=settings, notifier=notifier,
    )  # fmt: skip


def catch_up(
    engine: Engine,
    *,
    now: datetime | None = None,
    settings: QualitySettings | None = None,
    notifier: Notifier | None = None,
) -> ScheduledOutcome | None:
    """Start-up: run every missed trading date and due re-check; the latest new scheduled run."""
    outcomes = run_due(engine, now=now, settings=settings, notifier=notifier)
    created = [o for o in outcomes if o.created and o.run.trigger == Trigger.SCHEDULED]
    return created[-1] if created else None
