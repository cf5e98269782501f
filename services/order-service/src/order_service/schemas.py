"""Wire models of the order service: requests in, positions and trades out.

The public models inherit only from the shared data mixins, never from the table models.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, computed_field, field_validator

from optrade.db.models import EntryFill, EntrySnapshot, ExitSnapshot, ModelMetadata, OptionIdentity
from optrade.domain import OptionType, Side
from optrade.settings import get_request_limit_settings
from order_service.attribution import attribution

FEATURES_MAX_BYTES = 64 * 1024
FEATURES_MAX_KEYS = 500
MAX_LOTS = 100_000

Lots = Annotated[int, Field(strict=True, ge=1, le=MAX_LOTS, description="quantity in lots")]
Money = Annotated[
    Decimal,
    Field(ge=0, le=10_000_000, max_digits=12, decimal_places=2, multiple_of=Decimal("0.05")),
]
MarketInstant = Annotated[
    AwareDatetime | None,
    Field(
        description="market instant to fill at (ISO-8601 with offset); default now. Lets a "
        "client replay a past market; never later than now"
    ),
]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def fingerprint(self) -> str:
        """sha256 of the canonical body: the same request always gives the same fingerprint."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


class OrderRequest(_Request):
    """Open a paper position for a model's signal."""

    underlying: str = Field(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9&_-]+$")
    expiry: date
    strike: Decimal = Field(gt=0, le=10_000_000, max_digits=12, decimal_places=2)
    option_type: OptionType
    side: Side
    quantity: Lots
    ml_score: float = Field(ge=0, le=1, allow_inf_nan=False, description="model score, 0..1")
    model_version: str = Field(min_length=1, max_length=64)
    model_hash: str = Field(
        pattern=r"^[0-9a-fA-F]{7,128}$", description="hex digest of the model, 7-128 hex chars"
    )
    features_snapshot: dict[str, Any] = Field(
        description=f"the model's input features: a non-empty JSON object, at most "
        f"{FEATURES_MAX_KEYS} keys and {FEATURES_MAX_BYTES // 1024} KiB serialized"
    )
    client_order_id: str | None = Field(None, min_length=1, max_length=200)
    as_of: MarketInstant = None

    @field_validator("underlying")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()

    @field_validator("strike")
    @classmethod
    def _two_places(cls, value: Decimal) -> Decimal:
        return value.quantize(Decimal("0.01"))  # 26100, 26100.0 and 26100.00 are one strike

    @field_validator("model_hash")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()

    @field_validator("features_snapshot")
    @classmethod
    def _bounded_features(cls, value: dict[str, Any]) -> dict[str, Any]:
        if not value:
            raise ValueError("must not be empty: a trade without features cannot train a model")
        max_depth = get_request_limit_settings().max_json_depth
        if _nesting_depth(value) > max_depth - 1:  # the request body itself is one level
            raise ValueError(f"nested deeper than {max_depth - 1} levels")
        if len(value) > FEATURES_MAX_KEYS:
            raise ValueError(f"has {len(value)} keys, at most {FEATURES_MAX_KEYS} are allowed")
        try:
            size = len(json.dumps(value, allow_nan=False, separators=(",", ":")).encode())
        except ValueError as exc:  # NaN / Infinity have no place in JSON or JSONB
            raise ValueError("must not contain NaN or Infinity") from exc
        if size > FEATURES_MAX_BYTES:
            raise ValueError(f"is {size} bytes serialized, at most {FEATURES_MAX_BYTES} allowed")
        return value


def _nesting_depth(value: Any) -> int:
    """How many JSON containers deep `value` goes, without recursion."""
    deepest = 0
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
    return deepest


class CloseRequest(_Request):
    """Close all (no `quantity`) or part of a position."""

    quantity: Lots | None = None
    exit_price: Money | None = Field(
        None,
        description="rupees on the 0.05 tick; used for the fill (source `client`) when given, "
        "and the only price when no market-data provider answers",
    )
    reason: str | None = Field(None, max_length=200)
    as_of: MarketInstant = None


class GreekAttribution(BaseModel):
    """A closed trade's P&L explained by each Greek, in rupees (see `order_service.attribution`).

    From the entry Greeks: delta Δ·dS, gamma ½Γ·dS², theta Θ·calendar days held, vega ν·dIV
    (vol points), each × lots × lot_size × side sign; residual = pnl − explained. Null where an
    input is missing (e.g. no exit spot).
    """

    delta: float | None
    gamma: float | None
    theta: float | None
    vega: float | None
    explained: float | None = Field(description="delta + gamma + theta + vega")
    residual: float | None = Field(description="pnl − explained")

    @classmethod
    def of(cls, trade: Any) -> GreekAttribution:
        parts = attribution(trade)
        return cls(**{name.removeprefix("attr_"): value for name, value in parts.items()})


class PositionPublic(OptionIdentity, ModelMetadata, EntryFill, EntrySnapshot):
    id: int
    lots: int = Field(description="opened quantity, lots")
    quantity_open: int = Field(description="still open, lots")
    status: str
    closed_at: datetime | None = None
    idempotency_key: str | None = None
    client_order_id: str | None = None
    updated_at: datetime


class TradePublic(OptionIdentity, ModelMetadata, EntryFill, EntrySnapshot, ExitSnapshot):
    id: int
    position_id: int
    lots: int = Field(description="closed quantity, lots")
    exit_price: Decimal
    exit_price_source: str = Field(description="bid | ask | ltp | client")
    exit_spread: Decimal | None = None
    pnl: Decimal = Field(description="rupees: price difference × lots × lot size, signed by side")
    closed_at: datetime
    close_reason: str | None = None
    close_idempotency_key: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def attribution(self) -> GreekAttribution:
        """Greek P&L attribution of this trade, rupees."""
        return GreekAttribution.of(self)


class CloseResult(BaseModel):
    trade: TradePublic
    position: PositionPublic = Field(description="the position after this close")


class PositionPage(BaseModel):
    items: list[PositionPublic]
    total: int
    limit: int
    offset: int


class TradePage(BaseModel):
    items: list[TradePublic]
    total: int
    limit: int
    offset: int
