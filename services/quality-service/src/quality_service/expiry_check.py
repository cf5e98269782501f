"""The sixth check, `open_past_expiry`: positions still open after their expiry's settlement.

Index options settle at 15:30 IST on their expiry day (the order service's settlement run closes
them then). A position still open after that is stranded: its record has no exit and the trade
checks, which read closed trades only, cannot see it. This check counts positions, not trades:
it fails when more than `QUALITY_THRESHOLD_OPEN_PAST_EXPIRY` (default 0) positions are open
past their expiry at the run's cut-off, whatever the window (a stranded position stays a failure
until it is settled), and lists their ids.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import Connection, func, select

from optrade.db.models import Position
from optrade.domain import IST, MARKET_CLOSE, PositionStatus
from quality_service.schemas import CheckBreakdown, CheckResult, CheckStatus, FieldCount

NAME = "open_past_expiry"
LABEL = "Open Past Expiry"
POSITION = Position.__table__  # type: ignore[attr-defined]


def last_settled_expiry(cutoff: datetime) -> date:
    """The latest expiry date whose settlement time (15:30 IST) is at or before `cutoff`."""
    local = cutoff.astimezone(IST)
    return local.date() if local.time() >= MARKET_CLOSE else local.date() - timedelta(days=1)


def stranded(conn: Connection, cutoff: datetime, limit: int) -> tuple[int, list[int]]:
    """How many positions are open past their expiry at `cutoff`, and the first `limit` ids."""
    where = (
        POSITION.c.status == PositionStatus.OPEN.value,
        POSITION.c.expiry <= last_settled_expiry(cutoff),
    )
    count = conn.execute(select(func.count()).select_from(POSITION).where(*where)).scalar_one()
    ids = conn.execute(
        select(POSITION.c.id).where(*where).order_by(POSITION.c.id).limit(max(limit, 0))
    ).scalars()
    return int(count), [int(i) for i in ids]


def result(count: int, ids: list[int], allowed: float) -> CheckResult:
    """The graded check: fail above `allowed` stranded positions, else pass."""
    return CheckResult(
        name=NAME,
        label=LABEL,
        kind="positions",
        status=CheckStatus.FAIL if count > allowed else CheckStatus.PASS,
        threshold=allowed,
        warn_below=allowed,
        total=count,
        passed=0,
        coverage=None,
        fields=[
            FieldCount(
                name="position.status",
                label="Positions open past expiry",
                present=count,
                total=count,
                coverage=None,
            )
        ],  # fmt: skip
        breakdown=CheckBreakdown(),
        failing_trade_ids=ids,
    )
