"""Table models of the shared trade database (docs/architecture.md says who writes which).

A snapshot is one group of columns that stands at entry and at exit with the prefixes `entry_`
and `exit_`. The group is declared once in `optrade.domain.snapshot`; this module adds the SQL
type of each field and generates the two column sets from it.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    Index,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlmodel import Field, SQLModel

from optrade.db.types import JSON_OR_NULL, JSONVariant, UTCDateTime
from optrade.domain import (
    SNAPSHOT_FIELD_TYPES,
    OptionType,
    OrderIntent,
    OrderStatus,
    OrderType,
    PositionStatus,
    Product,
    Side,
    TradeMode,
    Validity,
    utcnow,
)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION

MONEY = Numeric(14, 2)
DEFAULT_ACCOUNT = "default"


# The SQL type of each snapshot field; names and Python types come from `optrade.domain`.
_SNAPSHOT_SQL_TYPES: dict[str, Any] = {
    "delta": Float(),
    "gamma": Float(),
    "theta": Float(),
    "vega": Float(),
    "iv": Float(),
    "iv_source": String(8),
    "forward": Float(),
    "rate": Float(),
    "t_years": Float(),
    "ltp": MONEY,
    "bid": MONEY,
    "ask": MONEY,
    "oi": Float(),
    "volume": BigInteger(),
    "spot": MONEY,
    "vix": Float(),
    "pcr": Float(),
    "market_at": UTCDateTime(),
    "source": String(16),
    "error": Text(),
    "captured_at": UTCDateTime(),
    "provider": String(16),
    "instance": String(16),
    "upstream_at": UTCDateTime(),
    "market_at_source": String(16),
    "broker_iv": Float(),
    "broker_delta": Float(),
    "broker_gamma": Float(),
    "broker_theta": Float(),
    "broker_vega": Float(),
}
# name -> (Python type, SQL type), in the order of the domain's field group.
SNAPSHOT_FIELDS: dict[str, tuple[Any, Any]] = {
    name: (py_type, _SNAPSHOT_SQL_TYPES[name]) for name, py_type in SNAPSHOT_FIELD_TYPES.items()
}


def _snapshot_mixin(prefix: str, class_name: str) -> type[SQLModel]:
    annotations: dict[str, Any] = {}
    namespace: dict[str, Any] = {"__module__": __name__, "__annotations__": annotations}
    for name, (py_type, sql_type) in SNAPSHOT_FIELDS.items():
        annotations[prefix + name] = py_type | None
        namespace[prefix + name] = Field(default=None, sa_type=sql_type)
    return type(class_name, (SQLModel,), namespace)


if TYPE_CHECKING:  # the generated columns are typed as Any for the type checker

    class EntrySnapshot(SQLModel):
        def __getattr__(self, name: str) -> Any: ...

    class ExitSnapshot(SQLModel):
        def __getattr__(self, name: str) -> Any: ...

else:
    EntrySnapshot = _snapshot_mixin("entry_", "EntrySnapshot")
    ExitSnapshot = _snapshot_mixin("exit_", "ExitSnapshot")


class OptionIdentity(SQLModel):
    underlying: str = Field(sa_type=String(20), index=True)
    expiry: date
    strike: Decimal = Field(sa_type=Numeric(12, 2))
    option_type: OptionType = Field(sa_type=String(2))
    side: Side = Field(sa_type=String(4))
    lot_size: int


class ModelMetadata(SQLModel):
    ml_score: float | None = None
    model_version: str | None = Field(default=None, sa_type=String(64), index=True)
    model_hash: str | None = Field(default=None, sa_type=String(128))
    features_snapshot: dict[str, Any] | None = Field(default=None, sa_type=JSONVariant)


class EntryFill(SQLModel):
    entry_price: Decimal = Field(sa_type=MONEY)
    entry_price_source: str = Field(sa_type=String(8))  # ask | bid | ltp
    entry_spread: Decimal | None = Field(default=None, sa_type=MONEY)
    opened_at: datetime = Field(sa_type=UTCDateTime(), index=True)


class Provenance(SQLModel):
    """How a position or trade came to be: live or replayed, inside the session or not."""

    mode: TradeMode = Field(
        default=TradeMode.LIVE,
        sa_type=String(8),
        index=True,
        sa_column_kwargs={"server_default": TradeMode.LIVE.value},
    )
    # Placed outside the NSE session (allowed by ALLOW_OFF_HOURS_ORDERS) and filled from the last
    # session's closing quote.
    off_hours: bool = Field(
        default=False, sa_type=Boolean(), sa_column_kwargs={"server_default": false()}
    )


class Exits(SQLModel):
    """Exits the platform executes for a position (docs/matching.md): premiums in rupees, the
    trailing stop in points, `exit_at` an instant. Asked on an order, kept on its position."""

    stop_loss: Decimal | None = Field(default=None, sa_type=MONEY)
    target: Decimal | None = Field(default=None, sa_type=MONEY)
    trailing_stop: Decimal | None = Field(default=None, sa_type=MONEY)
    exit_at: datetime | None = Field(default=None, sa_type=UTCDateTime())


class StrategyMember(SQLModel):
    """The strategy a leg belongs to (`POST /v1/strategies`), carried from its position to its
    orders and trades; null for a single order."""

    strategy_id: int | None = Field(default=None, index=True)


class AccountName(SQLModel):
    """The paper account an order, position or trade belongs to (issue 22; docs/accounts.md)."""

    account: str = Field(
        default=DEFAULT_ACCOUNT,
        sa_type=String(32),
        index=True,
        sa_column_kwargs={"server_default": DEFAULT_ACCOUNT},
    )


class PositionMark(SQLModel):
    """The position's last mark to market (the mid, or LTP where a side is empty) and the quote's
    figures at that instant the account page and the margin scan read: IV (percent), spot,
    forward and the per-unit Greeks. Set from the entry quote at the fill, then by the engine."""

    mark_price: Decimal | None = Field(default=None, sa_type=MONEY)
    marked_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    mark_iv: float | None = Field(default=None, sa_type=Float())
    mark_spot: Decimal | None = Field(default=None, sa_type=MONEY)
    mark_forward: float | None = Field(default=None, sa_type=Float())
    mark_delta: float | None = Field(default=None, sa_type=Float())
    mark_gamma: float | None = Field(default=None, sa_type=Float())
    mark_theta: float | None = Field(default=None, sa_type=Float())
    mark_vega: float | None = Field(default=None, sa_type=Float())


class PositionFunds(SQLModel):
    """What the position's opening fill tied up: `margin_at_entry` (the incremental margin of a
    short, the premium paid for a long) and the entry order's charges not yet booked in a trade
    (`open_entry_charges`: each close moves its share into the trade's `charges`)."""

    margin_at_entry: Decimal | None = Field(default=None, sa_type=MONEY)
    open_entry_charges: Decimal | None = Field(default=None, sa_type=MONEY)


class PositionFields(
    OptionIdentity,
    ModelMetadata,
    EntryFill,
    EntrySnapshot,
    Provenance,
    Exits,
    AccountName,
    PositionMark,
    PositionFunds,
    StrategyMember,
):
    """A position's columns but its id (the data model that records and the table share)."""

    # MIS: squared off at `square_off_at` (ORDER_SQUARE_OFF_TIME on its opening day); NRML: held
    # to expiry.
    product: Product = Field(
        default=Product.NRML, sa_type=String(4), sa_column_kwargs={"server_default": "NRML"}
    )
    trail_best: Decimal | None = Field(default=None, sa_type=MONEY)  # best LTP since set
    square_off_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    # The instant of the last observation its exits were evaluated on (or set on).
    exits_evaluated_at: datetime | None = Field(default=None, sa_type=UTCDateTime())

    # A free-text tag of the client's (OpenAlgo's `strategy`), kept from the opening order.
    tag: str | None = Field(default=None, sa_type=String(64), index=True)
    lots: int  # opened quantity, in lots
    quantity_open: int  # still open, in lots
    status: PositionStatus = Field(default=PositionStatus.OPEN, sa_type=String(8), index=True)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())


# The positions an account's funds sum over: the open ones, and closed ones whose entry charges
# were not all moved into their trades (none, once closed, in the usual case). The funds check
# runs on every fill under the account's lock; without this it read every position ever held.
POSITIONS_IN_FUNDS = "status = 'open' OR open_entry_charges <> 0"


class Position(PositionFields, table=True):
    __table_args__ = (
        Index(
            "ix_position_account_in_funds",
            "account",
            postgresql_where=text(POSITIONS_IN_FUNDS),
            sqlite_where=text(POSITIONS_IN_FUNDS),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)


class OrderFields(ModelMetadata, Exits, AccountName, StrategyMember):
    """One order request as the venue keeps it: what was asked, where it stands, what it filled.

    An opening order names the position it opened; a closing order the position it closed lots
    of. The client's keys live here: `idempotency_key` and `client_order_id` are unique, and the
    fingerprint of the request refuses a key reused for another order.
    """

    intent: OrderIntent = Field(default=OrderIntent.OPEN, sa_type=String(8))
    order_type: OrderType = Field(default=OrderType.MARKET, sa_type=String(8))
    underlying: str = Field(sa_type=String(20))
    expiry: date
    strike: Decimal = Field(sa_type=Numeric(12, 2))
    option_type: OptionType = Field(sa_type=String(2))
    side: Side = Field(sa_type=String(4))
    lots: int
    lot_size: int | None = None
    price: Decimal | None = Field(default=None, sa_type=MONEY)  # LIMIT and SL
    trigger_price: Decimal | None = Field(default=None, sa_type=MONEY)  # SL and SL-M
    status: OrderStatus = Field(sa_type=String(16), index=True)
    rejection_reason: str | None = Field(default=None, sa_type=Text())
    average_price: Decimal | None = Field(default=None, sa_type=MONEY)
    filled_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    position_id: int | None = Field(default=None, foreign_key="position.id", index=True)
    trade_id: int | None = Field(default=None)  # the trade a closing order recorded
    idempotency_key: str | None = Field(default=None, sa_type=String(200))
    client_order_id: str | None = Field(default=None, sa_type=String(200))
    request_fingerprint: str | None = Field(default=None, sa_type=String(64))
    mode: TradeMode = Field(default=TradeMode.LIVE, sa_type=String(8))
    # A free-text tag of the client's (OpenAlgo's `strategy`): filters the books and closes.
    tag: str | None = Field(default=None, sa_type=String(64), index=True)
    product: Product = Field(
        default=Product.NRML, sa_type=String(4), sa_column_kwargs={"server_default": "NRML"}
    )
    validity: Validity = Field(
        default=Validity.DAY, sa_type=String(4), sa_column_kwargs={"server_default": "DAY"}
    )
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime())  # a DAY order's
    placed_at: datetime | None = Field(default=None, sa_type=UTCDateTime())  # market instant
    # The instant of the last observation it was evaluated on (arrival included).
    evaluated_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime(), index=True)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())


class Order(OrderFields, table=True):
    __tablename__ = "order"
    __table_args__ = (
        UniqueConstraint("idempotency_key"),
        UniqueConstraint("client_order_id"),
    )

    id: int | None = Field(default=None, primary_key=True)


class EngineLease(SQLModel, table=True):
    """Who leads a background role (the order engine): one row per role, held while renewed."""

    __tablename__ = "engine_lease"

    role: str = Field(sa_type=String(32), primary_key=True)
    holder: str = Field(sa_type=String(128))
    expires_at: datetime = Field(sa_type=UTCDateTime())


class TradeMarginLabels(SQLModel):
    """The margin the trade's lots held (the position's margin at entry in proportion to the
    lots closed; the premium paid for a long) and net_pnl / margin_blocked (docs/accounts.md)."""

    margin_blocked: Decimal | None = Field(default=None, sa_type=MONEY)
    return_on_margin: float | None = Field(default=None, sa_type=Float())


class TradeFields(
    OptionIdentity,
    ModelMetadata,
    EntryFill,
    EntrySnapshot,
    ExitSnapshot,
    Provenance,
    AccountName,
    TradeMarginLabels,
    StrategyMember,
):
    """A trade's columns but its id."""

    position_id: int = Field(foreign_key="position.id", index=True)
    lots: int  # closed quantity, in lots
    exit_price: Decimal = Field(sa_type=MONEY)
    exit_price_source: str = Field(sa_type=String(16))  # bid | ask | ltp | client | settlement
    exit_spread: Decimal | None = Field(default=None, sa_type=MONEY)
    pnl: Decimal = Field(sa_type=Numeric(16, 2))  # rupees, signed by side
    # Statutory charges and brokerage of this round trip (entry share + exit order), rupees; null
    # on trades stored before charges were computed.
    charges: Decimal | None = Field(default=None, sa_type=Numeric(14, 2))
    net_pnl: Decimal | None = Field(default=None, sa_type=Numeric(16, 2))  # pnl - charges
    # Trading-session seconds between the entry and exit market instants (market time held).
    market_seconds_held: float | None = Field(default=None, sa_type=Float())
    closed_at: datetime = Field(sa_type=UTCDateTime(), index=True)
    close_reason: str | None = Field(default=None, sa_type=String(200))
    # client | stop_loss | target | trailing_stop | time_exit | square_off | settlement
    exit_reason: str | None = Field(default=None, sa_type=String(16))
    close_idempotency_key: str | None = Field(default=None, sa_type=String(200))
    # sha256 of the canonical close request: the same key with another body is refused.
    close_request_fingerprint: str | None = Field(default=None, sa_type=String(64))


class Trade(TradeFields, table=True):
    __table_args__ = (
        UniqueConstraint("close_idempotency_key"),
        Index("ix_trade_closed_at_model_version", "closed_at", "model_version"),
    )

    id: int | None = Field(default=None, primary_key=True)


class Account(SQLModel, table=True):
    """A paper account's starting capital, set through `PUT /v1/accounts/{account}`; an account
    without a row has the default capital (`ORDER_ACCOUNT_CAPITAL`)."""

    name: str = Field(sa_type=String(32), primary_key=True)
    capital: Decimal = Field(sa_type=MONEY)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())


class AccountTradeTotals(SQLModel, table=True):
    """The running sums of an account's trades, kept by the database (triggers on `trade`, from
    migration 0015): the funds check reads one row under the account's lock instead of summing
    every trade the account ever closed. Every insert, update and delete of a trade moves them,
    whoever writes it."""

    __tablename__ = "account_trade_totals"

    account: str = Field(sa_type=String(32), primary_key=True)
    realized: Decimal = Field(default=Decimal(0), sa_type=Numeric(18, 2))  # Σ trade.pnl
    charges: Decimal = Field(default=Decimal(0), sa_type=Numeric(18, 2))  # Σ trade.charges
    trades: int = 0  # how many trades the sums hold


class AccountEquityFields(SQLModel):
    """One account's funds page as it stood at a day's 15:30 IST close."""

    account: str = Field(sa_type=String(32))
    day: date
    taken_at: datetime = Field(sa_type=UTCDateTime())
    capital: Decimal = Field(sa_type=MONEY)
    cash: Decimal = Field(sa_type=MONEY)
    used_margin: Decimal = Field(sa_type=MONEY)
    available: Decimal = Field(sa_type=MONEY)
    realized: Decimal = Field(sa_type=Numeric(16, 2))
    unrealized: Decimal = Field(sa_type=Numeric(16, 2))
    charges: Decimal = Field(sa_type=MONEY)
    equity: Decimal = Field(sa_type=Numeric(16, 2))


class AccountEquity(AccountEquityFields, table=True):
    __tablename__ = "account_equity"
    __table_args__ = (UniqueConstraint("account", "day"),)

    id: int | None = Field(default=None, primary_key=True)


class StrategyFields(SQLModel):
    """A structure of legs placed, margined, exited and scored as one (docs/strategies.md).

    `legs` is what was placed, each leg as resolved (strike, option_type, side, lots, the offset
    asked if any, its position id); `net_premium` is paid positive, received negative (rupees);
    `margin` what the basket blocked beside the account's positions when it opened. Exits act on
    the strategy's mark-to-market P&L (rupees): `stop_loss_pnl`, `target_pnl`, `exit_at`, and
    MIS square-off at `square_off_at`.
    """

    name: str = Field(sa_type=String(64), index=True)
    underlying: str = Field(sa_type=String(20))
    expiry: date
    legs: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONVariant)
    net_premium: Decimal = Field(sa_type=Numeric(16, 2))
    margin: Decimal | None = Field(default=None, sa_type=Numeric(16, 2))
    account: str | None = Field(default=None, sa_type=String(64))
    status: PositionStatus = Field(default=PositionStatus.OPEN, sa_type=String(8), index=True)
    product: Product = Field(
        default=Product.NRML, sa_type=String(4), sa_column_kwargs={"server_default": "NRML"}
    )
    mode: TradeMode = Field(default=TradeMode.LIVE, sa_type=String(8))
    stop_loss_pnl: Decimal | None = Field(default=None, sa_type=Numeric(16, 2))
    target_pnl: Decimal | None = Field(default=None, sa_type=Numeric(16, 2))
    exit_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    square_off_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    exit_reason: str | None = Field(default=None, sa_type=String(16))
    idempotency_key: str | None = Field(default=None, sa_type=String(200))
    request_fingerprint: str | None = Field(default=None, sa_type=String(64))
    opened_at: datetime = Field(sa_type=UTCDateTime())  # the market instant every leg filled at
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime(), index=True)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    # The instant of the last observation its exits were evaluated on (or opened on).
    exits_evaluated_at: datetime | None = Field(default=None, sa_type=UTCDateTime())


class Strategy(StrategyFields, table=True):
    __table_args__ = (UniqueConstraint("idempotency_key"),)

    id: int | None = Field(default=None, primary_key=True)


class QualityRun(SQLModel, table=True):
    """One stored run of the data-quality checks; history is never overwritten."""

    __tablename__ = "quality_run"
    __table_args__ = (UniqueConstraint("scheduled_key"),)

    id: int | None = Field(default=None, primary_key=True)
    trigger: str = Field(sa_type=String(16))  # scheduled | manual | backfill
    trading_date: date | None = None  # IST trading date of a scheduled run
    # "scheduled:<date>" for scheduled runs: the database guard against running a day twice.
    scheduled_key: str | None = Field(default=None, sa_type=String(64))
    status: str = Field(sa_type=String(16), index=True)  # pass|warn|fail|no_data|skipped|running
    window_start: datetime = Field(sa_type=UTCDateTime())
    window_end: datetime = Field(sa_type=UTCDateTime())
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime(), index=True)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    total_trades: int = 0
    thresholds: dict[str, Any] = Field(default_factory=dict, sa_type=JSONVariant)
    checks: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONVariant)
    details: dict[str, Any] = Field(default_factory=dict, sa_type=JSONVariant)
    note: str | None = Field(default=None, sa_type=Text())
    # The end-of-day training command run after this (passing, scheduled) run: claimed once by
    # writing it (SQL NULL = never run), then its exit code, duration and output tail.
    training: dict[str, Any] | None = Field(default=None, sa_type=JSON_OR_NULL)


def carried_trade_fields() -> list[str]:
    """Fields a trade inherits from its position: every shared column but the bookkeeping."""
    own = {"id", "lots", "closed_at"}
    return [
        name for name in Trade.model_fields if name in Position.model_fields and name not in own
    ]


def trade_from_position(position: Position, **closing: Any) -> Trade:
    """Build a trade for (part of) a position; the one code path that carries entry and metadata."""
    if position.id is None:
        raise ValueError("a trade needs a stored position (position.id is None)")
    carried = {name: getattr(position, name) for name in carried_trade_fields()}
    # The close may override what it inherits: a backdated or off-hours close of a live position.
    return Trade(position_id=position.id, **(carried | closing))
