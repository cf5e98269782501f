"""Wire models of strategies: `POST /v1/strategies` in, a strategy with its legs out."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator

from optrade.domain import OptionType, Product, Side
from optrade.instants import Instant
from optrade.symbols import EXCHANGE, SYMBOL_DESCRIPTION
from order_service.schemas import (
    FEATURES_MAX_BYTES,
    FEATURES_MAX_KEYS,
    Lots,
    MarketInstant,
    Units,
    bounded_features,
)

MAX_LEGS = 8
PnlRupees = Annotated[
    Decimal,
    Field(ge=-100_000_000, le=100_000_000, max_digits=12, decimal_places=2),
]


class StrategyLegRequest(BaseModel):
    """One leg: its contract as `symbol`, or `strike` or `offset` with `option_type`; its side and
    size (`lots`, or `units` a multiple of the lot size)."""

    model_config = ConfigDict(extra="forbid")

    symbol: str | None = Field(
        None, min_length=1, max_length=40, description=SYMBOL_DESCRIPTION + "; of the expiry"
    )
    strike: Decimal | None = Field(None, gt=0, le=10_000_000, max_digits=12, decimal_places=2)
    offset: str | None = Field(
        None,
        min_length=3,
        max_length=5,
        description="ATM | ITM<n> | OTM<n> (n 1..50), from the ATM strike of the chain the "
        "strategy is priced on (nearest the forward, the lower on a tie); ITM is below ATM for "
        "a call and above it for a put, as OpenAlgo's optionsorder",
    )
    option_type: OptionType | None = None
    side: Side
    lots: Lots | None = None
    units: Units | None = None

    @field_validator("strike")
    @classmethod
    def _two_places(cls, value: Decimal | None) -> Decimal | None:
        return value.quantize(Decimal("0.01")) if value is not None else None

    @field_validator("offset")
    @classmethod
    def _upper(cls, value: str | None) -> str | None:
        return value.upper() if value is not None else None


class StrategyRequest(BaseModel):
    """Open a named structure of 1–8 legs on one underlying and expiry, priced from one chain
    observation, every leg filled in one transaction or none."""

    model_config = ConfigDict(extra="forbid")

    strategy: str = Field(
        min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$",
        description="the structure's name, e.g. iron_condor, short_straddle",
    )  # fmt: skip
    underlying: str = Field(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9&_-]+$")
    expiry: date | None = Field(None, description="default: the nearest expiry not yet closed")
    legs: list[StrategyLegRequest] = Field(min_length=1, max_length=MAX_LEGS)
    ml_score: float = Field(ge=0, le=1, allow_inf_nan=False, description="model score, 0..1")
    model_version: str = Field(min_length=1, max_length=64)
    model_hash: str = Field(
        pattern=r"^[0-9a-fA-F]{7,128}$", description="hex digest of the model, 7-128 hex chars"
    )
    features_snapshot: dict[str, Any] = Field(
        description=f"the model's input features, once for all legs: a non-empty JSON object, at "
        f"most {FEATURES_MAX_KEYS} keys and {FEATURES_MAX_BYTES // 1024} KiB serialized"
    )
    product: Product = Field(Product.NRML, description="MIS: all legs squared off at 15:15 IST")
    account: str = Field(
        "default",
        pattern=r"^[A-Za-z0-9_.-]{1,32}$",
        description="the paper account that pays for the basket (docs/accounts.md)",
    )
    as_of: MarketInstant = None
    stop_loss_pnl: PnlRupees | None = Field(
        None, description="exit every leg when the strategy's P&L at the mids is at or below it"
    )
    target_pnl: PnlRupees | None = Field(
        None, description="exit every leg when the strategy's P&L at the mids is at or above it"
    )
    exit_at: Instant | None = Field(
        None, description="exit every leg at the first observation at or after this instant"
    )

    @field_validator("underlying")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()

    @field_validator("model_hash")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()

    @field_validator("features_snapshot")
    @classmethod
    def _bounded_features(cls, value: dict[str, Any]) -> dict[str, Any]:
        return bounded_features(value)

    def fingerprint(self) -> str:
        """sha256 of the canonical body: one key, one request."""
        body = self.model_dump(mode="json")
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


class StrategyLegPublic(BaseModel):
    """One leg as placed, and once closed how it exited."""

    position_id: int
    strategy_id: int
    symbol: str
    exchange: str = EXCHANGE
    strike: Decimal
    option_type: str
    side: str
    lots: int
    lot_size: int
    offset: str | None = Field(None, description="the offset it was asked by, if any")
    status: str = Field(description="open | closed")
    entry_price: Decimal
    exit_price: Decimal | None = Field(None, description="lots-weighted over its trades")
    exit_reason: str | None = None
    exit_market_at: datetime | None = None
    realized_pnl: Decimal | None = Field(None, description="rupees: its trades' P&L")
    mark: Decimal | None = Field(None, description="open: the mid of the last chain, rupees")
    unrealized_pnl: Decimal | None = Field(None, description="open: at the mark, rupees")

    @computed_field(description="units (lots × lot_size)")  # type: ignore[prop-decorator]
    @property
    def units(self) -> int:
        return self.lots * self.lot_size


class NetGreeks(BaseModel):
    """The open legs' Greeks summed, each × units × side sign (+1 long, −1 short)."""

    delta: float | None = Field(None, description="per index point")
    gamma: float | None = Field(None, description="per index point²")
    theta: float | None = Field(None, description="rupees of premium per calendar day")
    vega: float | None = Field(None, description="rupees of premium per vol point")


class StrategyPublic(BaseModel):
    id: int
    strategy: str
    underlying: str
    expiry: date
    product: str
    mode: str
    account: str | None = None
    status: str = Field(description="open | closed")
    net_premium: Decimal = Field(description="rupees: paid positive, received negative")
    margin: Decimal | None = Field(
        None, description="rupees: what the basket blocked beside the open positions"
    )
    stop_loss_pnl: Decimal | None = None
    target_pnl: Decimal | None = None
    exit_at: datetime | None = None
    square_off_at: datetime | None = None
    exit_reason: str | None = Field(
        None, description="client | stop_loss | target | time_exit | square_off | settlement"
    )
    opened_at: datetime = Field(description="the market instant every leg filled at")
    closed_at: datetime | None = None
    legs: list[StrategyLegPublic]
    realized_pnl: Decimal = Field(description="rupees: the closed legs' trades")
    unrealized_pnl: Decimal | None = Field(
        None, description="rupees: the open legs at the mids of the last chain (null: unmarked)"
    )
    pnl: Decimal | None = Field(None, description="realized + unrealized, rupees")
    greeks: NetGreeks = Field(default_factory=NetGreeks)
    marked_at: datetime | None = Field(None, description="the market instant of the marks")
    marks_error: str | None = Field(None, description="why the open legs are not marked")


class StrategyCloseRequest(BaseModel):
    """`POST /v1/strategies/{id}/close`: close every open leg from one observation."""

    model_config = ConfigDict(extra="forbid")

    as_of: MarketInstant = None
    reason: str | None = Field(None, max_length=200)
