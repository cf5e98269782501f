"""Wire models of the paper accounts (issue 22): the funds page, its daily equity, a capital
set through the API, and the basket margin check."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from optrade.domain import Side
from optrade.instants import Instant
from order_service.schemas import MAX_LOTS

ACCOUNT_PATTERN = r"^[A-Za-z0-9_.-]{1,32}$"


class GreeksPublic(BaseModel):
    delta: float = Field(description="Σ delta × units × side: index points")
    gamma: float = Field(description="Σ gamma × units × side: per point²")
    theta: float = Field(description="Σ theta × units × side: rupees per calendar day")
    vega: float = Field(description="Σ vega × units × side: rupees per volatility point")


class MarginPublic(BaseModel):
    span: Decimal = Field(description="SPAN-like scan margin, rupees")
    exposure: Decimal = Field(description="exposure margin, rupees")
    margin: Decimal = Field(description="span + exposure, rupees")
    premium: Decimal = Field(description="net option value, paid positive (received negative)")
    worst_scenario: str = Field(description="the scan scenario of the largest loss")
    price_scan_range: float = Field(description="the price scan range, index points")


class AccountPublic(BaseModel):
    """An account's funds page (docs/accounts.md has every identity)."""

    account: str
    capital: Decimal = Field(description="starting capital, rupees")
    cash: Decimal = Field(
        description="capital + realized - charges - premium paid for open longs + premium "
        "received for open shorts"
    )
    used_margin: Decimal = Field(description="the margin the open positions block, rupees")
    available: Decimal = Field(description="cash - used_margin: what a new order may use")
    realized: Decimal = Field(description="gross P&L of the closed trades, rupees")
    unrealized: Decimal = Field(description="Σ (mark - entry) × units × side of open positions")
    charges: Decimal = Field(description="every charge paid: trades' and open entries'")
    equity: Decimal = Field(description="capital + realized + unrealized - charges")
    premium_paid_open: Decimal
    premium_received_open: Decimal
    open_positions: int
    unmarked: int = Field(description="open positions without a mark (add no unrealized P&L)")
    marked_at: datetime | None = Field(None, description="the latest mark the page values")
    margins: dict[str, MarginPublic] = Field(description="by underlying")
    greeks: dict[str, GreeksPublic] = Field(description="the portfolio's Greeks by underlying")


class CapitalRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    capital: Decimal = Field(
        gt=0, le=Decimal("1e11"), max_digits=14, decimal_places=2,
        description="the account's starting capital, rupees",
    )  # fmt: skip


class EquityPublic(BaseModel):
    """One account's page at a trading day's 15:30 IST close."""

    model_config = ConfigDict(from_attributes=True)

    day: date
    taken_at: datetime
    capital: Decimal
    cash: Decimal
    used_margin: Decimal
    available: Decimal
    realized: Decimal
    unrealized: Decimal
    charges: Decimal
    equity: Decimal


class EquityHistory(BaseModel):
    account: str
    items: list[EquityPublic]


class MarginLegRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    symbol: str = Field(min_length=1, max_length=40, description="e.g. NIFTY09DEC2526000CE")
    side: Side
    lots: int = Field(strict=True, ge=1, le=MAX_LOTS)


class MarginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account: str = Field("default", pattern=ACCOUNT_PATTERN)
    as_of: Instant | None = Field(None, description="the market instant; default now")
    legs: list[MarginLegRequest] = Field(min_length=1, max_length=50)


class PricedLegPublic(BaseModel):
    symbol: str
    side: Side
    lots: int
    units: int
    price: float | None = Field(description="the leg's mark: mid, LTP where a side is empty")
    iv: float | None = Field(description="the quote's IV, percent")


class MarginAnswerPublic(BaseModel):
    """The basket with the account's open positions (`combined`, as Kite's `initial`), alone
    (`basket`), and what the positions block without it."""

    account: str
    underlying: str
    as_of: datetime
    span: Decimal = Field(description="combined: SPAN-like scan margin")
    exposure: Decimal = Field(description="combined: exposure margin")
    margin: Decimal = Field(description="combined: span + exposure")
    premium: Decimal = Field(description="combined: net option value, paid positive")
    worst_scenario: str
    incremental: Decimal = Field(description="combined margin - the positions' margin")
    combined: MarginPublic
    basket: MarginPublic
    positions: MarginPublic
    legs: list[PricedLegPublic]
