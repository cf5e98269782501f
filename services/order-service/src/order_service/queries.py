"""Read positions and trades: filtered, newest first, paginated with a total count."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Engine, func
from sqlmodel import Session, SQLModel, select

from optrade.db.models import Position, Trade
from optrade.domain import TradeWindow
from optrade.errors import NotFound

Row = TypeVar("Row", bound=SQLModel)


@dataclass(frozen=True)
class Page(Generic[Row]):
    items: list[Row]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True)
class PageRequest:
    """Which slice of a newest-first listing to answer."""

    limit: int = 50
    offset: int = 0


def _page(
    engine: Engine,
    model: type[Row],
    time_column: str,
    window: TradeWindow,
    page: PageRequest,
    *filters: Any,
) -> Page[Row]:
    columns = model.__table__.c  # type: ignore[attr-defined]
    conditions = [*filters, *window.conditions(columns, time_column)]
    newest_first = (columns[time_column].desc(), columns.id.desc())
    with Session(engine) as session:
        total = session.exec(select(func.count()).select_from(model).where(*conditions)).one()
        rows = session.exec(
            select(model)
            .where(*conditions)
            .order_by(*newest_first)
            .offset(page.offset)
            .limit(page.limit)
        ).all()
    return Page(list(rows), int(total), page.limit, page.offset)


def list_positions(
    engine: Engine,
    window: TradeWindow,
    page: PageRequest = PageRequest(),
    *,
    status: str | None = None,
) -> Page[Position]:
    """Positions opened in the window (`opened_at`), newest first."""
    filters = [Position.status == status] if status else []
    return _page(engine, Position, "opened_at", window, page, *filters)


def list_trades(
    engine: Engine,
    window: TradeWindow,
    page: PageRequest = PageRequest(),
    *,
    position_id: int | None = None,
) -> Page[Trade]:
    """Trades closed in the window (`closed_at`), newest first."""
    filters = [Trade.position_id == position_id] if position_id is not None else []
    return _page(engine, Trade, "closed_at", window, page, *filters)


def get_position(engine: Engine, position_id: int) -> Position:
    return _get(engine, Position, position_id)


def get_trade(engine: Engine, trade_id: int) -> Trade:
    return _get(engine, Trade, trade_id)


def _get(engine: Engine, model: type[Row], row_id: int) -> Row:
    """The row with this id, or a 404 naming it (`position 7 does not exist`)."""
    with Session(engine) as session:
        found = session.get(model, row_id)
    if found is None:
        raise NotFound(f"{model.__tablename__} {row_id} does not exist")
    return found
