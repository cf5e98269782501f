"""Wire models of the market-data API; units are named in every field description (OpenAPI).

`QuoteOut` and `ContextOut` extend the shared `OptionQuote` / `MarketContext` contracts with a few
extra fields; a client parsing the shared models ignores the extras.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal, NotRequired

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, computed_field, with_config
from typing_extensions import TypedDict

from market_data_service.pricing import ForwardSource
from optrade.domain import IvSource
from optrade.schemas.market import MarketContext, OptionQuote
from optrade.symbols import EXCHANGE, SYMBOL_DESCRIPTION, format_symbol

MAX_GREEKS_ITEMS = 10_000

PriceSource = Literal["mid", "ltp"]
_PRICE_SOURCE = "price the leg's own IV is solved from: mid of bid/ask when both exist, else LTP"
_IV_SOURCE = (
    "own: from this leg's price; otm: an in-the-money leg given its strike's out-of-the-money IV "
    "(its own mid does not pin an IV); parity: an out-of-the-money leg given the IV its "
    "in-the-money partner's price implies through put-call parity on `forward`"
)
AsOfSource = Literal["data", "upstream", "received"]
_AS_OF_SOURCE = (
    "where as_of comes from: data (the replayed file or simulated clock), upstream (the live "
    "provider's own timestamp) or received (the upstream sent none: our receive time)"
)
_PROVIDER = "simulated | nse-replay | recorded | openalgo | upstox"


class ExpiryOut(BaseModel):
    expiry: date
    lot_size: int = Field(description="contract lot size for this expiry, units per lot")
    calendar: Literal["official", "estimated"] = Field(
        description="official: the date follows NSE's published holidays; estimated: it rests on "
        "holiday dates not yet published by NSE (lunar estimates, or a year after the last "
        "circular), so NSE may still move it"
    )


class UnderlyingOut(BaseModel):
    name: str
    spot: float = Field(description="underlying value, index points")
    lot_size: int = Field(description="lot size of the nearest listed expiry, units per lot")
    strike_step: int = Field(description="strike interval near the money, index points")
    expiries: list[ExpiryOut] = Field(description="listed expiries, nearest first")
    as_of: datetime = Field(description="market time of the values (UTC)")


class UnderlyingsOut(BaseModel):
    underlyings: list[UnderlyingOut]
    provider: str = Field(description=_PROVIDER)
    instance: str = Field(description="primary | fallback (informational)")


class LegOut(BaseModel):
    """One side of one strike; prices in rupees, OI and volume in contracts."""

    symbol: str = Field(description=SYMBOL_DESCRIPTION)
    exchange: str = Field(EXCHANGE, description="exchange segment: NFO")
    ltp: float | None = Field(None, description="last traded price, rupees; null if no trade")
    bid: float | None = Field(None, description="best bid, rupees; null if no bid")
    ask: float | None = Field(None, description="best ask, rupees; null if no offer")
    oi: float | None = Field(None, description="open interest, contracts")
    volume: int | None = Field(None, description="traded volume today, contracts")
    iv: float | None = Field(None, description="implied volatility recomputed by us, percent")
    nse_iv: float | None = Field(
        None, description="NSE's published IV, percent (replay only; NSE uses its own rate)"
    )
    price_source: PriceSource | None = Field(None, description=_PRICE_SOURCE)
    iv_source: IvSource | None = Field(None, description=_IV_SOURCE)
    delta: float | None = Field(None, description="per 1 point of underlying")
    gamma: float | None = Field(None, description="per point squared")
    theta: float | None = Field(None, description="premium per calendar day, rupees")
    vega: float | None = Field(None, description="premium per 1 vol point, rupees")
    rho: float | None = Field(None, description="premium per 1 rate point, rupees")
    greeks_error: str | None = Field(None, description="why IV/Greeks are null, if they are")
    broker_iv: float | None = Field(None, description="the live upstream's own IV, percent")
    broker_delta: float | None = Field(None, description="the upstream's delta, per point")
    broker_gamma: float | None = Field(None, description="the upstream's gamma, per point squared")
    broker_theta: float | None = Field(
        None, description="the upstream's theta as sent (premium per calendar day)"
    )
    broker_vega: float | None = Field(
        None, description="the upstream's vega as sent (premium per 1 vol point)"
    )
    units_warning: str | None = Field(
        None, description="the upstream's OI/volume were not whole lots, or the leg was all zeros"
    )


class StrikeOut(BaseModel):
    strike: float = Field(description="strike, index points")
    ce: LegOut | None = Field(description="the call; null when the exchange lists none")
    pe: LegOut | None = Field(description="the put; null when the exchange lists none")


class ChainOut(BaseModel):
    underlying: str
    expiry: date
    lot_size: int = Field(description="contract lot size for this expiry, units per lot")
    spot: float = Field(description="underlying value, index points")
    spot_source: Literal["last", "settlement"] = Field(
        description="last: last index value; settlement: official close on the expiry at 15:30"
    )
    vix: float | None = Field(None, description="India VIX, annualised percent")
    pcr: float | None = Field(None, description="total put OI / total call OI of this expiry")
    as_of: datetime = Field(description="market time of the data (UTC)")
    time_to_expiry_years: float = Field(
        description="calendar seconds to 15:30 IST on expiry / (365 x 86400)"
    )
    rate: float = Field(description="risk-free rate used for IV, decimal, continuous")
    dividend_yield: float = Field(
        description="configured dividend yield, decimal, continuous; IVs use `forward`"
    )
    forward: float = Field(
        description="forward every IV of the chain is solved on (Black-76 on it, discounted at "
        "`rate`), index points"
    )
    forward_source: ForwardSource = Field(
        description="parity: implied by the mids near the money; model: spot x e^((r-q)T)"
    )
    provider: str = Field(description=_PROVIDER)
    instance: str = Field(description="primary | fallback (informational)")
    strikes: list[StrikeOut] = Field(description="ascending strike")
    as_of_source: AsOfSource = Field("data", description=_AS_OF_SOURCE)
    upstream_at: datetime | None = Field(
        None, description="the live upstream's own time of the data (UTC), when it sent one"
    )


class QuoteOut(OptionQuote):
    """`OptionQuote` plus NSE's IV, rho, the price source and the instance."""

    nse_iv: float | None = Field(None, description="NSE's published IV, percent (replay only)")
    rho: float | None = Field(None, description="premium per 1 rate point, rupees")
    price_source: PriceSource | None = Field(None, description=_PRICE_SOURCE)
    time_to_expiry_years: float = Field(
        description="calendar seconds to 15:30 IST on expiry / (365 x 86400)"
    )
    forward: float = Field(description="forward the IV is solved on, index points")
    rate: float = Field(description="risk-free rate used for IV, decimal, continuous")
    instance: str = Field(description="primary | fallback (informational)")
    as_of_source: AsOfSource = Field("data", description=_AS_OF_SOURCE)  # type: ignore[assignment]
    units_warning: str | None = Field(
        None, description="the upstream's OI/volume were not whole lots, or the leg was all zeros"
    )

    @computed_field(description=SYMBOL_DESCRIPTION)  # type: ignore[prop-decorator]
    @property
    def symbol(self) -> str:
        return format_symbol(self.underlying, self.expiry, self.strike, self.option_type)

    @computed_field(description="exchange segment: NFO")  # type: ignore[prop-decorator]
    @property
    def exchange(self) -> str:
        return EXCHANGE


class ReplayInstantsOut(BaseModel):
    """The snapshot instants of a replay range: the observations a backtest walks."""

    underlying: str
    start: datetime = Field(alias="from", description="first instant asked for, UTC")
    end: datetime = Field(alias="to", description="last instant asked for (inclusive), UTC")
    instants: list[datetime] = Field(
        description="market time of each snapshot in the range, UTC, ascending; an `as_of` equal "
        "to one is served by exactly that snapshot"
    )
    max_age_seconds: float = Field(
        description="MARKET_DATA_REPLAY_MAX_AGE: how long after a snapshot, within its session, "
        "it still serves an as_of"
    )
    provider: str = Field(description=_PROVIDER)

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class ContextOut(MarketContext):
    """`MarketContext` plus the expiry whose PCR is reported and the instance."""

    expiry: date = Field(description="the nearest live expiry; `pcr` is of this expiry")
    instance: str = Field(description="primary | fallback (informational)")


_FINITE = {"allow_inf_nan": False}
_Spot = Annotated[float, Field(gt=0, description="spot, index points (the forward for black76)",
                              **_FINITE)]  # fmt: skip
_Strike = Annotated[float, Field(gt=0, description="strike, index points", **_FINITE)]
_Years = Annotated[float, Field(ge=0, le=100, description="time to expiry, years (ACT/365)",
                               **_FINITE)]  # fmt: skip
_Rate = Annotated[float, Field(ge=-1, le=1, description="risk-free rate, decimal, continuous "
                               "(0.065 = 6.5%)", **_FINITE)]  # fmt: skip
_Dividend = Annotated[float, Field(ge=-1, le=1, description="dividend yield, decimal, continuous "
                                   "(bsm only); default 0", **_FINITE)]  # fmt: skip
_IvPercent = Annotated[float, Field(gt=0, le=1000, description="volatility, percent (20 = 20%)",
                                    **_FINITE)]  # fmt: skip
_Premium = Annotated[float, Field(ge=0, description="option premium, rupees", **_FINITE)]


# The batch body is a TypedDict, not a model: pydantic validates 10,000 of them from JSON bytes
# about twice as fast, and the one check that spans fields (exactly one of iv or price) is done
# on whole columns by the route, naming the item.
@with_config(ConfigDict(extra="forbid"))
class GreeksItemIn(TypedDict):
    """One option to price or to solve; give exactly one of `iv` (percent) or `price` (rupees)."""

    option_type: Literal["CE", "PE"]
    spot: _Spot
    strike: _Strike
    t_years: _Years
    rate: _Rate
    dividend_yield: NotRequired[_Dividend]
    iv: NotRequired[_IvPercent | None]
    price: NotRequired[_Premium | None]


@with_config(ConfigDict(extra="forbid"))
class GreeksRequest(TypedDict):
    model: Annotated[
        Literal["bsm", "black76"],
        Field(
            description="bsm: Black-Scholes-Merton on spot with dividend yield; black76: on a "
            "forward"
        ),  # fmt: skip
    ]
    items: Annotated[list[GreeksItemIn], Field(min_length=1, max_length=MAX_GREEKS_ITEMS)]


GREEKS_REQUEST: TypeAdapter[GreeksRequest] = TypeAdapter(GreeksRequest)


class GreeksItemOut(BaseModel):
    price: float | None = Field(description="premium, rupees (the given price when solving IV)")
    iv: float | None = Field(description="implied or given volatility, percent")
    delta: float | None = Field(description="per 1 point of underlying (of the forward, black76)")
    gamma: float | None = Field(description="per point squared")
    theta: float | None = Field(description="premium per calendar day")
    vega: float | None = Field(description="premium per 1 vol point")
    rho: float | None = Field(description="premium per 1 rate point")
    error: str | None = Field(description="why this item is undefined; null when it is fine")


class GreeksResponse(BaseModel):
    items: list[GreeksItemOut] = Field(description="one result per request item, in order")
