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
)
from sqlmodel import Field, SQLModel

from optrade.db.types import JSONVariant, UTCDateTime
from optrade.domain import (
    SNAPSHOT_FIELD_TYPES,
    OptionType,
    PositionStatus,
    Side,
    TradeMode,
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


class Position(OptionIdentity, ModelMetadata, EntryFill, EntrySnapshot, Provenance, table=True):
    __table_args__ = (
        UniqueConstraint("idempotency_key"),
        UniqueConstraint("client_order_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    lots: int  # opened quantity, in lots
    quantity_open: int  # still open, in lots
    status: PositionStatus = Field(default=PositionStatus.OPEN, sa_type=String(8), index=True)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    idempotency_key: str | None = Field(default=None, sa_type=String(200))
    client_order_id: str | None = Field(default=None, sa_type=String(200))
    request_fingerprint: str | None = Field(default=None, sa_type=String(64))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())


class Trade(
    OptionIdentity, ModelMetadata, EntryFill, EntrySnapshot, ExitSnapshot, Provenance, table=True
):
    __table_args__ = (
        UniqueConstraint("close_idempotency_key"),
        Index("ix_trade_closed_at_model_version", "closed_at", "model_version"),
    )

    id: int | None = Field(default=None, primary_key=True)
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
    close_idempotency_key: str | None = Field(default=None, sa_type=String(200))
    # sha256 of the canonical close request: the same key with another body is refused.
    close_request_fingerprint: str | None = Field(default=None, sa_type=String(64))


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
