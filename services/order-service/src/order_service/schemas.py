"""Wire models of the order service: requests in, positions and trades out.

The public models inherit only from the shared data mixins, never from the table models.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator

from optrade.attribution import attribution
from optrade.db.models import (
    AccountName,
    EntryFill,
    EntrySnapshot,
    ExitSnapshot,
    ModelMetadata,
    OptionIdentity,
    PositionFunds,
    PositionMark,
    Provenance,
    TradeMarginLabels,
)
from optrade.domain import OptionType, OrderType, Product, Side, Validity
from optrade.errors import InvalidInput
from optrade.instants import INSTANT_DESCRIPTION, Instant
from optrade.settings import get_request_limit_settings
from optrade.symbols import EXCHANGE, SYMBOL_DESCRIPTION, SymbolError, format_symbol, parse_symbol

FEATURES_MAX_BYTES = 64 * 1024
FEATURES_MAX_KEYS = 500
MAX_LOTS = 100_000

MAX_UNITS = 10_000_000

Lots = Annotated[int, Field(strict=True, ge=1, le=MAX_LOTS, description="quantity in lots")]
Units = Annotated[
    int,
    Field(
        strict=True,
        ge=1,
        le=MAX_UNITS,
        description="quantity in units (contracts), as Indian brokers count it: lots × lot size; "
        "must be a multiple of the contract's lot size. Give `lots` or `units`, not both",
    ),
]
DeprecatedLots = Annotated[
    int,
    Field(
        strict=True,
        ge=1,
        le=MAX_LOTS,
        description="deprecated alias of `lots`, kept for one release; send `lots` (or `units`)",
        json_schema_extra={"deprecated": True},
    ),
]
Money = Annotated[
    Decimal,
    Field(ge=0, le=10_000_000, max_digits=12, decimal_places=2, multiple_of=Decimal("0.05")),
]
MarketInstant = Annotated[
    Instant | None,
    Field(
        description=f"market instant to fill at: {INSTANT_DESCRIPTION}; default now. Lets a "
        "client replay a past market; never later than now"
    ),
]


# Forms of the quantity that are not stored: the canonical body names the lots `quantity`, as it
# did before `lots` and `units` existed, so fingerprints of earlier requests still match.
_QUANTITY_FORMS = {"lots", "quantity", "units"}
# `quantity` deprecated on 2026-12-01 (RFC 9745 structured date, seconds since the epoch).
QUANTITY_DEPRECATED = "@1796083200"


class _Request(BaseModel):
    """A body with a quantity given as `lots`, `units` or the deprecated `quantity`."""

    model_config = ConfigDict(extra="forbid")

    def deprecation(self) -> str | None:
        """The `Deprecation` header (RFC 9745) when the body used a deprecated field."""
        return QUANTITY_DEPRECATED if self.quantity is not None else None

    lots: Lots | None = None
    quantity: DeprecatedLots | None = None
    units: Units | None = None

    def given_lots(self, lot_size: int | None) -> int | None:
        """The lots asked for (None: not given); 422 naming the field when the forms disagree."""
        if self.lots is not None and self.quantity is not None and self.lots != self.quantity:
            raise InvalidInput("quantity", "deprecated alias of lots and disagrees with it")
        lots = self.lots if self.lots is not None else self.quantity
        if self.units is None:
            return lots
        if lots is not None:
            raise InvalidInput("units", "give lots or units, not both")
        if lot_size is None:
            raise InvalidInput("units", "the contract's lot size is unknown; give lots")
        if self.units % lot_size:
            raise InvalidInput(
                "units",
                f"{self.units} is not a multiple of the lot size {lot_size} of this contract "
                f"({self.units // lot_size or 1} lots = {(self.units // lot_size or 1) * lot_size} "
                "units)",
            )
        if self.units // lot_size > MAX_LOTS:
            raise InvalidInput("units", f"more than {MAX_LOTS} lots")
        return self.units // lot_size

    def canonical(self, lots: int | None) -> dict[str, Any]:
        """The body with the quantity as lots (under its historic name `quantity`)."""
        body = self.model_dump(mode="json", exclude=_QUANTITY_FORMS | {"symbol", "exchange"})
        return {**body, "quantity": lots}

    def fingerprint(self, lots: int | None = None) -> str:
        """sha256 of the canonical body: the same request always gives the same fingerprint."""
        given = self.given_lots(None) if self.units is None else lots
        body = self.canonical(given)
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


VENUE_DEFAULTS: dict[str, Any] = {
    "order_type": "MARKET", "price": None, "trigger_price": None, "product": "NRML",
    "validity": "DAY", "stop_loss": None, "target": None, "trailing_stop": None, "exit_at": None,
}  # fmt: skip


class OrderRequest(_Request):
    """Open a paper position for a model's signal.

    The contract is `symbol` (`NIFTY02DEC2526100PE`) or underlying, expiry, strike and
    option_type; the size is `lots`, or `units` (a multiple of the lot size).
    """

    symbol: str | None = Field(
        None, min_length=1, max_length=40, description=SYMBOL_DESCRIPTION + "; or give the parts"
    )
    exchange: Literal["NFO"] | None = Field(None, description="NFO (the only one served)")
    underlying: str | None = Field(None, min_length=1, max_length=20, pattern=r"^[A-Za-z0-9&_-]+$")
    expiry: date | None = None
    strike: Decimal | None = Field(None, gt=0, le=10_000_000, max_digits=12, decimal_places=2)
    option_type: OptionType | None = None
    side: Side
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
    order_type: OrderType = Field(
        OrderType.MARKET,
        description="MARKET fills at once; LIMIT at `price` or better; SL-M triggers at "
        "`trigger_price` and fills at the market; SL triggers and becomes a LIMIT at `price` "
        "(docs/matching.md)",
    )
    price: Money | None = Field(None, description="the limit price (LIMIT, SL), rupees")
    trigger_price: Money | None = Field(None, description="the trigger (SL, SL-M), rupees")
    product: Product = Field(
        Product.NRML,
        description="MIS: intraday, squared off at ORDER_SQUARE_OFF_TIME (15:15 IST); NRML: "
        "held to expiry",
    )
    validity: Validity = Field(
        Validity.DAY,
        description="DAY: expires unfilled at 15:30 IST; IOC: fills on arrival or expires",
    )
    stop_loss: Money | None = Field(
        None, description="exit: a premium; an SL-M on the closing side of the position"
    )
    target: Money | None = Field(
        None, description="exit: a premium; a LIMIT on the closing side of the position"
    )
    trailing_stop: Money | None = Field(
        None, description="exit: points; the stop follows the best LTP and never loosens"
    )
    exit_at: Instant | None = Field(
        None, description="exit: MARKET at the first observation at or after this instant"
    )

    account: str = Field(
        "default",
        pattern=r"^[A-Za-z0-9_.-]{1,32}$",
        description="the paper account that pays for the fill (docs/accounts.md)",
    )

    def canonical(self, lots: int | None) -> dict[str, Any]:
        """The body as lots; venue fields and the account only when they differ from their
        defaults, so the fingerprint of an order placed before they existed is unchanged."""
        body = super().canonical(lots)
        for name, default in VENUE_DEFAULTS.items():
            if body.get(name) == default:
                body.pop(name, None)
        if body.get("account") == "default":
            del body["account"]
        return body

    @field_validator("underlying")
    @classmethod
    def _upper(cls, value: str | None) -> str | None:
        return value.upper() if value is not None else None

    @field_validator("strike")
    @classmethod
    def _two_places(cls, value: Decimal | None) -> Decimal | None:
        # 26100, 26100.0 and 26100.00 are one strike
        return value.quantize(Decimal("0.01")) if value is not None else None

    @field_validator("model_hash")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()

    @field_validator("model_version", "client_order_id")
    @classmethod
    def _text_without_nul(cls, value: str | None) -> str | None:
        return _without_nul(value)

    @field_validator("features_snapshot")
    @classmethod
    def _bounded_features(cls, value: dict[str, Any]) -> dict[str, Any]:
        return bounded_features(value)

    def contract(self) -> OrderRequest:
        """This order with underlying, expiry, strike and option_type filled from `symbol`.

        Raises 422 naming the field when a part is missing, or given and disagreeing with the
        symbol.
        """
        parts = ("underlying", "expiry", "strike", "option_type")
        if self.symbol is None:
            for part in parts:
                if getattr(self, part) is None:
                    raise InvalidInput(part, "required (or give `symbol`)")
            return self
        try:
            named = parse_symbol(self.symbol)
        except SymbolError as exc:
            raise InvalidInput("symbol", str(exc)) from None
        implied = {
            "underlying": named.underlying,
            "expiry": named.expiry,
            "strike": named.strike.quantize(Decimal("0.01")),
            "option_type": OptionType(named.option_type),
        }
        for part, value in implied.items():
            given = getattr(self, part)
            if given is not None and given != value:
                raise InvalidInput(part, f"{given} disagrees with symbol {self.symbol} ({value})")
        return self.model_copy(update={**implied, "symbol": named.__str__()})


def bounded_features(value: dict[str, Any]) -> dict[str, Any]:
    """`features_snapshot` as the record keeps it: a non-empty JSON object within the limits."""
    if not value:
        raise ValueError("must not be empty: a trade without features cannot train a model")
    max_depth = get_request_limit_settings().max_json_depth
    if _nesting_depth(value) > max_depth - 1:  # the request body itself is one level
        raise ValueError(f"nested deeper than {max_depth - 1} levels")
    if len(value) > FEATURES_MAX_KEYS:
        raise ValueError(f"has {len(value)} keys, at most {FEATURES_MAX_KEYS} are allowed")
    if (where := _nul_path(value)) is not None:
        raise ValueError(f"{where} contains a NUL character (U+0000), which cannot be stored")
    try:
        size = len(json.dumps(value, allow_nan=False, separators=(",", ":")).encode())
    except ValueError as exc:  # NaN / Infinity have no place in JSON or JSONB
        raise ValueError("must not contain NaN or Infinity") from exc
    if size > FEATURES_MAX_BYTES:
        raise ValueError(f"is {size} bytes serialized, at most {FEATURES_MAX_BYTES} allowed")
    return value


class UnscoredOrderRequest(OrderRequest):
    """An order whose model metadata may be absent (the OpenAlgo surface: a strategy written for
    OpenAlgo sends none unless given as extra keyword arguments). What is absent is stored null,
    and the quality checks count the trade as missing that metadata."""

    ml_score: float | None = Field(  # type: ignore[assignment]
        None, ge=0, le=1, allow_inf_nan=False, description="model score, 0..1"
    )
    model_version: str | None = Field(None, min_length=1, max_length=64)  # type: ignore[assignment]
    model_hash: str | None = Field(  # type: ignore[assignment]
        None, pattern=r"^[0-9a-fA-F]{7,128}$", description="hex digest of the model"
    )
    features_snapshot: dict[str, Any] | None = None  # type: ignore[assignment]

    @field_validator("model_hash")
    @classmethod
    def _lower(cls, value: str | None) -> str | None:  # type: ignore[override]
        return None if value is None else value.lower()

    @field_validator("features_snapshot")
    @classmethod
    def _bounded_features(  # type: ignore[override]
        cls, value: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        return None if value is None else bounded_features(value)


NUL = "\x00"


def _without_nul(value: str | None) -> str | None:
    """The text unchanged; a NUL character (PostgreSQL's text cannot hold it) is refused."""
    if value is not None and NUL in value:
        raise ValueError("contains a NUL character (U+0000), which cannot be stored")
    return value


def _nul_path(value: Any) -> str | None:
    """Where in a JSON document a key or a text value holds a NUL character, if anywhere."""
    pending: list[tuple[Any, str]] = [(value, "")]
    while pending:
        item, path = pending.pop()
        if isinstance(item, str) and NUL in item:
            return f"the value at {path or 'the top'}"
        if isinstance(item, dict):
            for key, child in item.items():
                if NUL in str(key):
                    return f"a key under {path or 'the top'}"
                pending.append((child, f"{path}.{key}" if path else str(key)))
        elif isinstance(item, list):
            pending.extend((child, f"{path}[{i}]") for i, child in enumerate(item))
    return None


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
    """Close all (no `lots` or `units`) or part of a position."""

    exit_price: Money | None = Field(
        None,
        description="rupees on the 0.05 tick; used for the fill (source `client`) when given, "
        "and the only price when no market-data provider answers",
    )
    reason: str | None = Field(None, max_length=200)
    as_of: MarketInstant = None

    @field_validator("reason")
    @classmethod
    def _text_without_nul(cls, value: str | None) -> str | None:
        return _without_nul(value)


class GreekAttribution(BaseModel):
    """A closed trade's P&L explained by each Greek, in rupees (see `optrade.attribution`).

    From the entry Greeks: delta Δ·dS, gamma ½Γ·dS², theta Θ·market days held (trading-session
    time between the snapshots' market instants, one session = 365/252 days), vega ν·dIV
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


def _symbol_of(row: OptionIdentity) -> str:
    return format_symbol(row.underlying, row.expiry, row.strike, row.option_type)


class _BrokerNaming(OptionIdentity):
    """The contract as a broker names it: trading symbol and exchange (one place for both)."""

    @computed_field(description=SYMBOL_DESCRIPTION)  # type: ignore[prop-decorator]
    @property
    def symbol(self) -> str:
        return _symbol_of(self)

    @computed_field(description="exchange segment of the contract: NFO")  # type: ignore[prop-decorator]
    @property
    def exchange(self) -> str:
        return EXCHANGE


class PositionPublic(
    _BrokerNaming,
    ModelMetadata,
    EntryFill,
    EntrySnapshot,
    Provenance,
    AccountName,
    PositionMark,
    PositionFunds,
):
    id: int
    lots: int = Field(description="opened quantity, lots")
    quantity_open: int = Field(description="still open, lots (same as lots_open)")
    status: str
    closed_at: datetime | None = None
    updated_at: datetime
    product: str = Field("NRML", description="MIS (squared off intraday) | NRML")
    stop_loss: Decimal | None = Field(None, description="premium: an SL-M on the closing side")
    target: Decimal | None = Field(None, description="premium: a LIMIT on the closing side")
    trailing_stop: Decimal | None = Field(
        None, description="points: the stop follows the best LTP since the fill, never loosens"
    )
    trail_best: Decimal | None = Field(None, description="the best LTP the trailing stop follows")
    exit_at: datetime | None = Field(None, description="MARKET at the first observation after")
    square_off_at: datetime | None = Field(None, description="MIS: when it is squared off")
    strategy_id: int | None = Field(None, description="the strategy this leg belongs to")
    tag: str | None = Field(None, description="the client's tag (OpenAlgo's `strategy`)")

    @computed_field(description="opened quantity, units (lots × lot_size)")  # type: ignore[prop-decorator]
    @property
    def units(self) -> int:
        return self.lots * self.lot_size

    @computed_field(description="still open, lots")  # type: ignore[prop-decorator]
    @property
    def lots_open(self) -> int:
        return self.quantity_open

    @computed_field(description="still open, units (lots_open × lot_size)")  # type: ignore[prop-decorator]
    @property
    def units_open(self) -> int:
        return self.quantity_open * self.lot_size


class TradePublic(
    _BrokerNaming,
    ModelMetadata,
    EntryFill,
    EntrySnapshot,
    ExitSnapshot,
    Provenance,
    AccountName,
    TradeMarginLabels,
):
    id: int
    position_id: int
    lots: int = Field(description="closed quantity, lots")
    exit_price: Decimal
    exit_price_source: str = Field(
        description="bid | ask | ltp | client | settlement (intrinsic value at expiry)"
    )
    exit_spread: Decimal | None = None
    pnl: Decimal = Field(description="rupees: price difference × lots × lot size, signed by side")
    charges: Decimal | None = Field(
        None, description="rupees: brokerage, STT, exchange, SEBI, stamp duty and GST of this trade"
    )
    net_pnl: Decimal | None = Field(None, description="rupees: pnl − charges")
    market_seconds_held: float | None = Field(
        None, description="trading-session seconds between the entry and exit market instants"
    )
    closed_at: datetime
    close_reason: str | None = Field(None, description="the client's own words, if any")
    exit_reason: str | None = Field(
        None,
        description="client | stop_loss | target | trailing_stop | time_exit | square_off | "
        "settlement",
    )
    close_idempotency_key: str | None = None
    strategy_id: int | None = Field(None, description="the strategy this leg belongs to")

    @computed_field(description="closed quantity, units (lots × lot_size)")  # type: ignore[prop-decorator]
    @property
    def units(self) -> int:
        return self.lots * self.lot_size

    @computed_field  # type: ignore[prop-decorator]
    @property
    def attribution(self) -> GreekAttribution:
        """Greek P&L attribution of this trade, rupees."""
        return GreekAttribution.of(self)


class OrderPublic(_BrokerNaming, ModelMetadata, AccountName):
    """An order as the venue keeps it, with the position it opened or closed lots of."""

    id: int
    intent: str = Field(description="open | close: what the order does to a position")
    order_type: str = Field(description="MARKET | LIMIT | SL | SL-M")
    lot_size: int | None = None  # type: ignore[assignment]
    lots: int
    price: Decimal | None = Field(None, description="the limit price (LIMIT, SL), rupees")
    trigger_price: Decimal | None = Field(None, description="the trigger (SL, SL-M), rupees")
    product: str = Field("NRML", description="MIS (squared off intraday) | NRML")
    validity: str = Field("DAY", description="DAY | IOC")
    status: str = Field(
        description="open | trigger_pending | complete | cancelled | rejected | expired"
    )
    rejection_reason: str | None = None
    placed_at: datetime | None = Field(None, description="the market instant it arrived at")
    expires_at: datetime | None = Field(None, description="a DAY order: 15:30 IST of its session")
    stop_loss: Decimal | None = Field(None, description="exit for the position it opens")
    target: Decimal | None = Field(None, description="exit for the position it opens")
    trailing_stop: Decimal | None = Field(None, description="exit for the position it opens")
    exit_at: datetime | None = Field(None, description="exit for the position it opens")
    average_price: Decimal | None = Field(None, description="the fill price once complete")
    filled_at: datetime | None = None
    position_id: int | None = Field(None, description="the position it opened or closed")
    trade_id: int | None = Field(None, description="the trade a closing order recorded")
    client_order_id: str | None = None
    idempotency_key: str | None = None
    mode: str
    strategy_id: int | None = Field(None, description="the strategy this leg belongs to")
    tag: str | None = Field(None, description="the client's tag (OpenAlgo's `strategy`)")
    created_at: datetime
    updated_at: datetime
    position: PositionPublic | None = Field(None, description="that position as it is now")

    @computed_field(description="ordered quantity, units (lots × lot_size)")  # type: ignore[prop-decorator]
    @property
    def units(self) -> int | None:
        return None if self.lot_size is None else self.lots * self.lot_size


class OrderPage(BaseModel):
    items: list[OrderPublic]
    total: int
    limit: int
    offset: int


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


class SettledOut(BaseModel):
    position_id: int
    trade_id: int
    underlying: str
    expiry: date
    lots: int
    settlement_price: Decimal = Field(description="the index close settled against, points")
    exit_price: Decimal = Field(description="intrinsic value per unit, rupees")
    pnl: Decimal = Field(description="rupees, signed by side")


class SettlementPendingOut(BaseModel):
    underlying: str
    expiry: date
    positions: int = Field(description="open positions left for a later run")
    reason: str = Field(description="why market data gave no settlement value")


class SettlementRunOut(BaseModel):
    settled: list[SettledOut] = Field(description="positions this run settled")
    pending: list[SettlementPendingOut] = Field(description="expiries with no value yet")
    already_settled: int = Field(description="positions a concurrent run or close took first")


class OrderChangeRequest(BaseModel):
    """`PATCH /v1/orders/{id}`: a pending order's new price, trigger_price or lots."""

    model_config = ConfigDict(extra="forbid")

    price: Money | None = Field(None, description="the new limit price (LIMIT, SL)")
    trigger_price: Money | None = Field(None, description="the new trigger (SL, SL-M)")
    lots: Lots | None = Field(None, description="the new size, lots")


class ExitsRequest(BaseModel):
    """`PUT /v1/positions/{id}/exits`: the exits the platform executes (all absent: none)."""

    model_config = ConfigDict(extra="forbid")

    stop_loss: Money | None = Field(None, description="premium: an SL-M on the closing side")
    target: Money | None = Field(None, description="premium: a LIMIT on the closing side")
    trailing_stop: Money | None = Field(
        None, description="points: the stop follows the best LTP since set, never loosens"
    )
    exit_at: Instant | None = Field(None, description="MARKET at the first observation at/after")
    as_of: MarketInstant = None


class AdvanceRequest(BaseModel):
    """`POST /v1/engine/advance`: walk the replay up to `until`."""

    model_config = ConfigDict(extra="forbid")

    until: Instant = Field(
        description=f"walk every recorded observation up to: {INSTANT_DESCRIPTION}"
    )


class AdvanceOut(BaseModel):
    """What the walk did."""

    until: datetime
    observations: int = Field(description="chain observations evaluated")
    filled: list[int] = Field(description="orders that filled (ids)")
    triggered: list[int] = Field(description="SL orders that triggered and now rest as limits")
    expired: list[int] = Field(description="orders that expired (DAY at 15:30 IST)")
    exits: list[dict[str, Any]] = Field(
        description="positions closed by an exit: position_id, trade_id, exit_reason, exit_price"
    )
    settled: list[SettledOut] = Field(description="positions settled at expiry")
    unavailable: list[str] = Field(description="observations market data could not serve")
