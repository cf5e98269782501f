"""The paper accounts' SQL (issue 22): capital, the funds page's aggregates, marks, daily equity.

A mixin of `order_service.repository.Repository` (kept in its own module so the account's queries
read together): the database sums what a broker's funds page shows, in one statement: the
trades' running sums it keeps per account (`account_trade_totals`, moved by triggers on `trade`,
migration 0015) and the sums over the positions of an account (a second, grouped by underlying,
for the Greeks); the application adds the margin (`order_service.application.accounts`). Money
is summed as NUMERIC and handed back as `Decimal` to the paisa (SQLite's REAL sums of two-decimal
amounts are exact to far below a paisa at these magnitudes, and the NUMERIC result processor
rounds them to it).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Numeric,
    Table,
    bindparam,
    case,
    func,
    select,
    text,
    true,
    type_coerce,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from optrade.db.models import (
    POSITIONS_IN_FUNDS,
    Account,
    AccountEquity,
    AccountEquityFields,
    AccountTradeTotals,
    Position,
)
from optrade.db.types import UTCDateTime
from optrade.domain import PositionStatus, Side
from order_service.records import PositionRecord, record
from order_service.statements import run

ACCOUNT: Table = Account.__table__  # type: ignore[attr-defined]
EQUITY: Table = AccountEquity.__table__  # type: ignore[attr-defined]
_POSITION: Table = Position.__table__  # type: ignore[attr-defined]
_TRADE_SUMS_KEPT: Table = AccountTradeTotals.__table__  # type: ignore[attr-defined]
SUM = Numeric(18, 2)
ZERO = Decimal("0.00")


class EquityRecord(AccountEquityFields):
    id: int


@dataclass(frozen=True)
class GreekTotals:
    delta: float = 0.0
    gamma: float = 0.0
    theta: float = 0.0
    vega: float = 0.0


@dataclass(frozen=True)
class AccountTotals:
    """What the database sums for one account's funds page, rupees to the paisa."""

    realized: Decimal = ZERO  # Σ trade.pnl (gross)
    trade_charges: Decimal = ZERO  # Σ trade.charges
    open_entry_charges: Decimal = ZERO  # entry charges not booked in a trade yet
    premium_paid_open: Decimal = ZERO  # Σ entry × units of the open longs
    premium_received_open: Decimal = ZERO  # Σ entry × units of the open shorts
    unrealized: Decimal = ZERO  # Σ (mark - entry) × units × side over marked open positions
    open_positions: int = 0
    unmarked: int = 0  # open positions without a mark
    open_shorts: int = 0  # open short positions: without one, no margin is blocked
    capital: Decimal | None = None  # the capital set for the account (None: the default)
    greeks: dict[str, GreekTotals] = field(default_factory=dict)

    @property
    def charges(self) -> Decimal:
        return self.trade_charges + self.open_entry_charges


def _money(value: Any) -> Decimal:
    return ZERO if value is None else Decimal(value).quantize(Decimal("0.01"))


_SIGN = case((_POSITION.c.side == Side.BUY.value, 1), else_=-1)
_UNITS = _POSITION.c.quantity_open * _POSITION.c.lot_size
_OPEN = _POSITION.c.status == PositionStatus.OPEN.value
_BY_ACCOUNT: Any = bindparam("p_account")


def _sum(expression: Any) -> Any:
    return type_coerce(func.coalesce(func.sum(expression), 0), SUM)


# The trades' sums are kept per account by the database (`account_trade_totals`, triggers on
# `trade`): one row (or none) to read, however many trades the account closed.
_TRADE_TOTALS = select(_sum(_TRADE_SUMS_KEPT.c.realized), _sum(_TRADE_SUMS_KEPT.c.charges)).where(
    _TRADE_SUMS_KEPT.c.account == _BY_ACCOUNT
)
_POSITION_TOTALS = select(
    _sum(_POSITION.c.open_entry_charges),
    _sum(case((_OPEN & (_POSITION.c.side == Side.BUY.value), _POSITION.c.entry_price * _UNITS))),
    _sum(case((_OPEN & (_POSITION.c.side == Side.SELL.value), _POSITION.c.entry_price * _UNITS))),
    _sum(
        case(
            (
                _OPEN & _POSITION.c.mark_price.is_not(None),
                (_POSITION.c.mark_price - _POSITION.c.entry_price) * _UNITS * _SIGN,
            )
        )
    ),
    func.count(case((_OPEN, 1))),
    func.count(case((_OPEN & _POSITION.c.mark_price.is_(None), 1))),
    func.count(case((_OPEN & (_POSITION.c.side == Side.SELL.value), 1))),
).where(_POSITION.c.account == _BY_ACCOUNT, text(f"({POSITIONS_IN_FUNDS})"))
_GREEKS = (
    select(
        _POSITION.c.underlying,
        *(
            func.coalesce(func.sum(_POSITION.c[f"mark_{greek}"] * _UNITS * _SIGN), 0.0)
            for greek in ("delta", "gamma", "theta", "vega")
        ),
    )
    .where(_POSITION.c.account == _BY_ACCOUNT, _OPEN)
    .group_by(_POSITION.c.underlying)
    .order_by(_POSITION.c.underlying)
)
_CAPITAL = select(ACCOUNT.c.capital).where(ACCOUNT.c.name == _BY_ACCOUNT)
# The capital and both sums in one statement (one round trip: the funds check runs it on every
# opening fill, under the account's lock). Each part is one row; they are joined on true.
_TRADE_SUMS = _TRADE_TOTALS.subquery()
_POSITION_SUMS = _POSITION_TOTALS.subquery()
_TOTALS = select(_CAPITAL.scalar_subquery(), *_TRADE_SUMS.c, *_POSITION_SUMS.c).select_from(
    _TRADE_SUMS.join(_POSITION_SUMS, true())
)
_STORE_MARK = (
    update(_POSITION)
    .where(_POSITION.c.id == bindparam("p_id"))
    .values(
        mark_price=bindparam("p_price", type_=Numeric(14, 2)),
        marked_at=bindparam("p_at", type_=UTCDateTime()),
        mark_iv=bindparam("p_iv"),
        mark_spot=bindparam("p_spot", type_=Numeric(14, 2)),
        mark_forward=bindparam("p_forward"),
        mark_delta=bindparam("p_delta"),
        mark_gamma=bindparam("p_gamma"),
        mark_theta=bindparam("p_theta"),
        mark_vega=bindparam("p_vega"),
    )
)


class AccountReads:
    """The account's reads and its few writes outside the fill path."""

    engine: AsyncEngine

    def reading(self) -> AbstractAsyncContextManager[AsyncConnection]:
        raise NotImplementedError  # `Repository.reading`

    async def set_account_capital(self, account: str, capital: Decimal, now: datetime) -> None:
        """Create the account with `capital`, or change its capital (one upsert)."""
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        insert = dialect.insert(ACCOUNT).values(
            name=account, capital=capital, created_at=now, updated_at=now
        )
        statement = insert.on_conflict_do_update(
            index_elements=[ACCOUNT.c.name], set_={"capital": capital, "updated_at": now}
        )
        async with self.engine.begin() as connection:
            await connection.execute(statement)

    async def account_totals(self, account: str, *, greeks: bool = True) -> AccountTotals:
        """The funds page's sums over the account's trades and positions, and its capital: one
        statement (a second for the Greeks by underlying, when asked)."""
        params = {"p_account": account}
        async with self.reading() as connection:
            row = (await run(connection, _TOTALS, params)).rows[0]
            greek_rows = (await connection.execute(_GREEKS, params)).all() if greeks else []
        (capital, realized, trade_charges, entry_charges, paid, received, unrealized, open_count,
         unmarked, shorts) = row  # fmt: skip
        return AccountTotals(
            realized=_money(realized),
            trade_charges=_money(trade_charges),
            open_entry_charges=_money(entry_charges),
            premium_paid_open=_money(paid),
            premium_received_open=_money(received),
            unrealized=_money(unrealized),
            open_positions=int(open_count),
            unmarked=int(unmarked),
            open_shorts=int(shorts),
            capital=None if capital is None else _money(capital),
            greeks={str(row[0]): GreekTotals(*(float(v) for v in row[1:])) for row in greek_rows},
        )

    async def open_positions_on_shorted_underlyings(self, account: str) -> list[PositionRecord]:
        """The account's open positions on the underlyings where it holds a short: the only
        ones that block margin (a book of longs alone blocks none: its SPAN is 0)."""
        shorted = select(_POSITION.c.underlying).where(
            _POSITION.c.account == account, _OPEN, _POSITION.c.side == Side.SELL.value
        )
        query = select(_POSITION).where(
            _POSITION.c.account == account, _OPEN, _POSITION.c.underlying.in_(shorted)
        )
        async with self.reading() as connection:
            rows = (await connection.execute(query.order_by(_POSITION.c.id))).all()
        return [record(PositionRecord, row) for row in rows]

    async def open_positions(self, account: str | None = None) -> list[PositionRecord]:
        """Open positions (of one account, or of all), oldest first."""
        query = select(_POSITION).where(_OPEN)
        if account is not None:
            query = query.where(_POSITION.c.account == account)
        async with self.reading() as connection:
            rows = (await connection.execute(query.order_by(_POSITION.c.id))).all()
        return [record(PositionRecord, row) for row in rows]

    async def store_marks(self, marks: Sequence[dict[str, Any]]) -> None:
        """Store each position's mark (`p_id`, `p_price`, `p_at`, `p_iv`, ...): one executemany."""
        if not marks:
            return
        async with self.engine.begin() as connection:
            await connection.execute(_STORE_MARK, list(marks))

    async def account_names(self) -> list[str]:
        """Every account that has a capital set or a position."""
        union = select(ACCOUNT.c.name.label("name")).union(
            select(_POSITION.c.account.label("name")).distinct()
        )
        async with self.reading() as connection:
            rows = (await connection.execute(union)).all()
        return sorted(str(row[0]) for row in rows)

    async def add_equity_snapshot(self, values: dict[str, Any]) -> bool:
        """Store one day's snapshot of an account; False when that day is stored already."""
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(EQUITY).values(**values).on_conflict_do_nothing()
        async with self.engine.begin() as connection:
            result = await connection.execute(statement.returning(EQUITY.c.id))
            return result.first() is not None

    async def equity_snapshots(
        self, account: str, start: date | None, end: date | None
    ) -> list[EquityRecord]:
        """The account's daily snapshots with `start` <= day <= `end`, oldest first."""
        query = select(EQUITY).where(EQUITY.c.account == account)
        if start is not None:
            query = query.where(EQUITY.c.day >= start)
        if end is not None:
            query = query.where(EQUITY.c.day <= end)
        async with self.reading() as connection:
            rows = (await connection.execute(query.order_by(EQUITY.c.day))).all()
        return [record(EquityRecord, row) for row in rows]


__all__ = ["AccountReads", "AccountTotals", "EquityRecord", "GreekTotals"]
