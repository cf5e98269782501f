"""What the services answer, as typed records.

Each model names the schema of the services' OpenAPI documents it mirrors (`SCHEMA`); a test
checks every field against that schema, so an API change the client does not follow fails.
Every record also keeps the whole answer in `raw`, so fields added later are never lost.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar, TypeVar

T = TypeVar("T", bound="Model")


@dataclass(frozen=True)
class Model:
    SCHEMA: ClassVar[str] = ""
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def parse(cls: type[T], data: dict[str, Any]) -> T:
        """The record from an answer's JSON object; unknown keys stay in `raw` only."""
        hints = typing.get_type_hints(cls)
        values = {
            f.name: _convert(hints[f.name], data.get(f.name))
            for f in dataclasses.fields(cls)
            if f.name != "raw"
        }
        return cls(raw=data, **values)


def _convert(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    for kind in options:
        if isinstance(kind, type) and issubclass(kind, Model) and isinstance(value, dict):
            return kind.parse(value)
        if kind is Decimal:
            return Decimal(str(value))
        if kind is datetime:
            return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        if kind is date:
            return date.fromisoformat(str(value))
    return value


@dataclass(frozen=True)
class Position(Model):
    SCHEMA: ClassVar[str] = "PositionPublic"
    id: int
    symbol: str
    exchange: str
    underlying: str
    expiry: date
    strike: Decimal
    option_type: str
    side: str
    lots: int
    units: int
    lots_open: int
    units_open: int
    lot_size: int
    status: str
    entry_price: Decimal
    opened_at: datetime
    closed_at: datetime | None
    ml_score: float | None
    model_version: str | None
    model_hash: str | None


@dataclass(frozen=True)
class Account(Model):
    """An account's funds page: cash = capital + realized - charges - premium paid for open
    longs + premium received for open shorts; available = cash - used_margin; equity = capital +
    realized + unrealized - charges (rupees). `raw` holds the margins and Greeks by underlying."""

    SCHEMA: ClassVar[str] = "AccountPublic"
    account: str
    capital: Decimal
    cash: Decimal
    used_margin: Decimal
    available: Decimal
    realized: Decimal
    unrealized: Decimal
    charges: Decimal
    equity: Decimal
    open_positions: int
    marked_at: datetime | None


@dataclass(frozen=True)
class Order(Model):
    """An order as the venue keeps it; `position` is the position it opened or closed lots of,
    as it was when the answer was sent."""

    SCHEMA: ClassVar[str] = "OrderPublic"
    id: int
    symbol: str
    exchange: str
    underlying: str
    expiry: date
    strike: Decimal
    option_type: str
    side: str
    intent: str
    order_type: str
    lots: int
    units: int | None
    status: str
    average_price: Decimal | None
    filled_at: datetime | None
    position_id: int | None
    client_order_id: str | None
    rejection_reason: str | None
    created_at: datetime
    position: Position | None


@dataclass(frozen=True)
class Trade(Model):
    SCHEMA: ClassVar[str] = "TradePublic"
    id: int
    position_id: int
    symbol: str
    exchange: str
    underlying: str
    expiry: date
    strike: Decimal
    option_type: str
    side: str
    lots: int
    units: int
    lot_size: int
    entry_price: Decimal
    exit_price: Decimal
    exit_price_source: str
    pnl: Decimal
    opened_at: datetime
    closed_at: datetime
    close_reason: str | None
    model_version: str | None
    model_hash: str | None


@dataclass(frozen=True)
class CloseResult(Model):
    SCHEMA: ClassVar[str] = "CloseResult"
    trade: Trade
    position: Position

    @classmethod
    def parse(cls, data: dict[str, Any]) -> CloseResult:
        return cls(
            raw=data, trade=Trade.parse(data["trade"]), position=Position.parse(data["position"])
        )


@dataclass(frozen=True)
class Quote(Model):
    SCHEMA: ClassVar[str] = "QuoteOut"
    symbol: str
    exchange: str
    underlying: str
    expiry: date
    strike: float
    option_type: str
    lot_size: int
    ltp: float | None
    bid: float | None
    ask: float | None
    oi: float | None
    volume: int | None
    iv: float | None
    delta: float | None
    gamma: float | None
    theta: float | None
    vega: float | None
    spot: float
    vix: float | None
    pcr: float | None
    as_of: datetime
    provider: str


@dataclass(frozen=True)
class Chain(Model):
    SCHEMA: ClassVar[str] = "ChainOut"
    underlying: str
    expiry: date
    lot_size: int
    spot: float
    vix: float | None
    pcr: float | None
    as_of: datetime
    strikes: list[dict[str, Any]]


@dataclass(frozen=True)
class QualityRun(Model):
    SCHEMA: ClassVar[str] = "QualityRunPublic"
    id: int
    trigger: str
    status: str
    total_trades: int
    window_start: datetime
    window_end: datetime
    checks: list[dict[str, Any]]

    @property
    def failed(self) -> bool:
        """True when the run (a check of it) failed."""
        return self.status == "fail"


@dataclass(frozen=True)
class QualityStatus(Model):
    SCHEMA: ClassVar[str] = "QualityStatus"
    status: str
    latest_run: dict[str, Any] | None


@dataclass(frozen=True)
class AtmSymbols(Model):
    """The at-the-money strike of a chain (nearest the spot, with both legs listed) and the
    trading symbols of its call and put; `raw` is the chain's answer."""

    underlying: str
    expiry: date
    spot: float
    strike: float
    lot_size: int
    ce: str
    pe: str

    @classmethod
    def of(cls, chain: Chain) -> AtmSymbols:
        listed = [row for row in chain.strikes if row.get("ce") and row.get("pe")]
        if not listed:
            raise ValueError(f"{chain.underlying} {chain.expiry}: no strike lists both legs")
        row = min(listed, key=lambda r: abs(float(r["strike"]) - chain.spot))
        return cls(
            raw=chain.raw, underlying=chain.underlying, expiry=chain.expiry, spot=chain.spot,
            strike=float(row["strike"]), lot_size=chain.lot_size, ce=row["ce"]["symbol"],
            pe=row["pe"]["symbol"],
        )  # fmt: skip
