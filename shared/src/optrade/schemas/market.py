"""What the market-data service answers and the order service records (README.md: "API
overview", "Units on the wire").

Units: `iv` in percent; `delta` per point; `gamma` per point²; `theta` premium per calendar day;
`vega` premium per vol point; prices in rupees; `oi` and `volume` in contracts.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from optrade.domain import IvSource, OptionType


class MarketContext(BaseModel):
    """Spot, India VIX and put-call ratio of one underlying at one instant."""

    underlying: str
    spot: float = Field(description="underlying value, index points")
    vix: float | None = Field(None, description="India VIX, annualised percent")
    pcr: float | None = Field(
        None, description="put-call ratio: total put OI / total call OI of the expiry"
    )
    as_of: datetime = Field(description="market time the values describe (UTC)")
    provider: str = Field(description="simulated | nse-replay | ...")


class OptionQuote(BaseModel):
    """One option with chain fields, Greeks and context: `GET /v1/quote/{underlying}`."""

    model_config = ConfigDict(use_enum_values=True)

    underlying: str
    expiry: date
    strike: float
    option_type: OptionType
    lot_size: int = Field(description="contract lot size for this expiry, units per lot")
    ltp: float | None = Field(None, description="last traded price, rupees; null if no trade")
    bid: float | None = Field(None, description="best bid, rupees; null if no bid")
    ask: float | None = Field(None, description="best ask, rupees; null if no offer")
    oi: float | None = Field(None, description="open interest, contracts")
    volume: int | None = Field(None, description="traded volume today, contracts")
    iv: float | None = Field(None, description="implied volatility, percent")
    delta: float | None = Field(None, description="per 1 point of underlying")
    gamma: float | None = Field(None, description="per point squared")
    theta: float | None = Field(None, description="premium per calendar day")
    vega: float | None = Field(None, description="premium per 1 vol point")
    greeks_error: str | None = Field(None, description="why IV/Greeks are null, if they are")
    iv_source: IvSource | None = Field(
        None, description="own | otm | parity: which price the IV comes from (null: no IV)"
    )
    forward: float | None = Field(None, description="forward the IV is solved on, index points")
    rate: float | None = Field(None, description="risk-free rate of the IV, decimal, continuous")
    time_to_expiry_years: float | None = Field(
        None, description="calendar seconds to 15:30 IST on expiry / (365 x 86400)"
    )
    spot: float = Field(description="underlying value, index points")
    vix: float | None = Field(None, description="India VIX, percent")
    pcr: float | None = Field(None, description="put-call ratio (OI) of this expiry")
    as_of: datetime = Field(description="market time of the quote (UTC)")
    provider: str = Field(description="simulated | nse-replay | recorded | openalgo | upstox")
    instance: str | None = Field(None, description="primary | fallback: the instance that served")
    as_of_source: str | None = Field(
        None,
        description="where as_of comes from: data (a replayed file, the simulated clock), "
        "upstream (the live provider's own timestamp) or received (it sent none: our receive time)",
    )
    upstream_at: datetime | None = Field(
        None, description="the live upstream's own time of the data (UTC), when it sent one"
    )
    broker_iv: float | None = Field(None, description="the live upstream's own IV, percent")
    broker_delta: float | None = Field(None, description="the upstream's delta, per point")
    broker_gamma: float | None = Field(None, description="the upstream's gamma, per point squared")
    broker_theta: float | None = Field(
        None, description="the upstream's theta as sent (premium per calendar day)"
    )
    broker_vega: float | None = Field(
        None, description="the upstream's vega as sent (premium per 1 vol point)"
    )


class ClosingLeg(BaseModel):
    """One leg's last quote at the close of its expiry day (rupees; OI and volume in contracts)."""

    ltp: float | None = None
    bid: float | None = None
    ask: float | None = None
    oi: float | None = None
    volume: int | None = None


class ClosingStrike(BaseModel):
    strike: float = Field(description="strike, index points")
    ce: ClosingLeg | None = None
    pe: ClosingLeg | None = None


class SettlementValue(BaseModel):
    """What an expiry settles against: `GET /v1/settlement/{underlying}?expiry=`."""

    underlying: str
    expiry: date
    settlement_price: float = Field(
        description="index value the options settle against, index points: NSE's official close "
        "(the 15:00-15:30 weighted average) where the data has it, else the provider's close"
    )
    price_source: Literal["official_close", "close"] = Field(
        description="official_close: NSE's index close (replay `records.index.last`); close: "
        "the provider's index value at 15:30 IST"
    )
    lot_size: int = Field(description="contract lot size for this expiry, units per lot")
    vix: float | None = Field(None, description="India VIX at the close, percent")
    pcr: float | None = Field(None, description="put-call ratio (OI) of this expiry at the close")
    as_of: datetime = Field(description="market time of the closing data (UTC)")
    provider: str
    strikes: list[ClosingStrike] = Field(description="each strike's last quote, ascending")


class ChainLeg(BaseModel):
    """One side (CE or PE) of one strike in a chain: quotes, OI, volume, our IV and Greeks."""

    model_config = ConfigDict(use_enum_values=True)

    ltp: float | None = Field(None, description="last traded price, rupees; null if no trade")
    bid: float | None = Field(None, description="best bid, rupees; null if no bid")
    ask: float | None = Field(None, description="best ask, rupees; null if no offer")
    oi: float | None = Field(None, description="open interest, contracts")
    volume: int | None = Field(None, description="traded volume today, contracts")
    iv: float | None = Field(None, description="implied volatility, percent")
    delta: float | None = Field(None, description="per 1 point of underlying")
    gamma: float | None = Field(None, description="per point squared")
    theta: float | None = Field(None, description="premium per calendar day")
    vega: float | None = Field(None, description="premium per 1 vol point")
    greeks_error: str | None = Field(None, description="why IV/Greeks are null, if they are")
    iv_source: IvSource | None = Field(
        None, description="own | otm | parity: which price the IV comes from (null: no IV)"
    )
    broker_iv: float | None = Field(None, description="the live upstream's own IV, percent")
    broker_delta: float | None = Field(None, description="the upstream's delta, per point")
    broker_gamma: float | None = Field(None, description="the upstream's gamma, per point squared")
    broker_theta: float | None = Field(
        None, description="the upstream's theta as sent (premium per calendar day)"
    )
    broker_vega: float | None = Field(
        None, description="the upstream's vega as sent (premium per 1 vol point)"
    )


class ChainStrike(BaseModel):
    strike: float = Field(description="strike, index points")
    ce: ChainLeg | None = Field(None, description="the call; null when the exchange lists none")
    pe: ChainLeg | None = Field(None, description="the put; null when the exchange lists none")

    def leg(self, option_type: str) -> ChainLeg | None:
        return self.ce if option_type == "CE" else self.pe if option_type == "PE" else None


class OptionChain(BaseModel):
    """Every strike of one expiry at one instant: `GET /v1/chain/{underlying}?expiry=&as_of=`.

    The fields the order service reads of the market-data service's answer (which carries more:
    symbols, NSE's IV, rho, the forward's source); the shared quote units apply.
    """

    underlying: str
    expiry: date
    lot_size: int = Field(description="contract lot size for this expiry, units per lot")
    spot: float = Field(description="underlying value, index points")
    vix: float | None = Field(None, description="India VIX, annualised percent")
    pcr: float | None = Field(None, description="total put OI / total call OI of this expiry")
    as_of: datetime = Field(description="market time of the data (UTC)")
    time_to_expiry_years: float | None = Field(
        None, description="calendar seconds to 15:30 IST on expiry / (365 x 86400)"
    )
    rate: float | None = Field(None, description="risk-free rate of the IVs, decimal, continuous")
    forward: float | None = Field(None, description="forward every IV is solved on, index points")
    provider: str = Field(description="simulated | nse-replay | recorded | openalgo | upstox")
    instance: str | None = Field(None, description="primary | fallback: the instance that served")
    as_of_source: str | None = Field(
        None, description="data | upstream | received: where as_of comes from"
    )
    upstream_at: datetime | None = Field(
        None, description="the live upstream's own time of the data (UTC), when it sent one"
    )
    strikes: list[ChainStrike] = Field(description="ascending strike")

    def strike(self, strike: float) -> ChainStrike | None:
        """The row of `strike`, None when the chain lists no such strike."""
        return next((row for row in self.strikes if row.strike == strike), None)


class ReplayInstants(BaseModel):
    """The part of market data's `GET /v1/replay/instants` answer the order service reads: the
    snapshot instants of a replay range, ascending (the observations a replay walk evaluates)."""

    instants: list[datetime]


class ListedExpiry(BaseModel):
    expiry: date
    lot_size: int = Field(description="contract lot size for this expiry, units per lot")


class ListedUnderlying(BaseModel):
    name: str
    spot: float = Field(description="underlying value, index points")
    expiries: list[ListedExpiry] = Field(description="listed expiries, nearest first")
    as_of: datetime = Field(description="market time of the values (UTC)")


class Underlyings(BaseModel):
    """What the market-data service lists at an instant: `GET /v1/underlyings?as_of=` (the
    fields the order service reads)."""

    underlyings: list[ListedUnderlying]
    provider: str

    def find(self, name: str) -> ListedUnderlying | None:
        return next((u for u in self.underlyings if u.name == name.upper()), None)
