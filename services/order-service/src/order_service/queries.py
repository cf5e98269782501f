"""Read positions and trades: filtered, newest first, paginated with a total count."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Engine, func
from sqlmodel import Session, SQLModel, select

from optrade.db.models import Position, Trade
from optrade.errors import NotFound

Row = TypeVar("Row", bound=SQLModel)


@dataclass(frozen=True)
class Page(Generic[Row]):
    items: list[Row]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True)
class Window:
    """Listing filters every endpoint shares; `start`/`end` bound the table's own time column."""

    underlying: str | None = None
    model_version: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    limit: int = 50
    offset: int = 0


def _page(
    engine: Engine, model: type[Row], time_column: Any, window: Window, *filters: Any
) -> Page[Row]:
    conditions = [*filters]
    if window.underlying:
        conditions.append(model.underlying == window.underlying.upper())  # type: ignore[attr-defined]
    if window.model_version:
        conditions.append(model.model_version == window.model_version)  # type: ignore[attr-defined]
    if window.start:
        conditions.append(time_column >= window.start)
    if window.end:
        conditions.append(time_column < window.end)
    newest_first = (time_column.desc(), model.id.desc())  # type: ignore[attr-defined]
    with Session(engine) as session:
        total = session.exec(select(func.count()).select_from(model).where(*conditions)).one()
        rows = session.exec(
            select(model)
            .where(*conditions)
            .order_by(*newest_first)
            .offset(window.offset)
            .limit(window.limit)
        ).all()
    return Page(list(rows), int(total), window.limit, window.offset)


def list_positions(engine: Engine, window: Window, *, status: str | None = None) -> Page[Position]:
    """Positions opened in the window (`opened_at`), newest first."""
    filters = [Position.status == status] if status else []
    return _page(engine, Position, Position.opened_at, window, *filters)


def list_trades(engine: Engine, window: Window, *, position_id: int | None = None) -> Page[Trade]:
    """Trades closed in the window (`closed_at`), newest first."""
    filters = [Trade.position_id == position_id] if position_id is not None else []
    return _page(engine, Trade, Trade.closed_at, window, *filters)


def get_trade(engine: Engine, trade_id: int) -> Trade:
    with Session(engine) as session:
        trade = session.get(Trade, trade_id)
    if trade is None:
        raise NotFound(f"trade {trade_id} does not exist")
    return trade
