"""Reading stored runs: one run, pages of runs, the latest verdict, and the once-per-date keys."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from optrade.db.models import QualityRun
from quality_service.schemas import RunStatus

EVALUATED = (RunStatus.PASS, RunStatus.WARN, RunStatus.FAIL, RunStatus.NO_DATA)


def scheduled_key(trading_date: date) -> str:
    return f"scheduled:{trading_date.isoformat()}"


def backfill_key(trading_date: date) -> str:
    return f"backfill:{trading_date.isoformat()}"


def get_run(session: Session, run_id: int) -> QualityRun | None:
    return session.get(QualityRun, run_id)


def latest_evaluated(session: Session) -> QualityRun | None:
    """The newest run that counted trades (skipped holidays are not a verdict)."""
    statement = (
        select(QualityRun)
        .where(col(QualityRun.status).in_(EVALUATED))
        .order_by(col(QualityRun.id).desc())
        .limit(1)
    )
    return session.exec(statement).first()


def list_runs(session: Session, *, limit: int, offset: int = 0) -> tuple[list[QualityRun], int]:
    """A page of runs, newest first, and the number of runs stored."""
    statement = select(QualityRun).order_by(col(QualityRun.id).desc()).offset(offset).limit(limit)
    total = session.exec(select(func.count()).select_from(QualityRun)).one()
    return list(session.exec(statement).all()), int(total)


def has_scheduled_run(session: Session, trading_date: date) -> bool:
    statement = select(QualityRun.id).where(QualityRun.scheduled_key == scheduled_key(trading_date))
    return session.exec(statement).first() is not None


def find_by_key(engine: Engine, key: str) -> QualityRun | None:
    """The run stored under a once-per-date key (`scheduled:<date>`, `backfill:<date>`), if any."""
    with Session(engine, expire_on_commit=False) as session:
        statement = select(QualityRun).where(QualityRun.scheduled_key == key)
        return session.exec(statement).first()


def find_backfill(engine: Engine, trading_date: date) -> QualityRun | None:
    """The stored run of a successful backfill of `trading_date`, if any."""
    return find_by_key(engine, backfill_key(trading_date))


def find_scheduled(engine: Engine, trading_date: date) -> QualityRun | None:
    return find_by_key(engine, scheduled_key(trading_date))
