"""Speak OpenAlgo: its REST surface (`/api/v1/...`) translated to the order service's use cases.

A strategy written for the `openalgo` SDK paper-trades here unchanged. This module translates
OpenAlgo's words to ours and back; it places, closes, cancels and reads through the existing
application functions (`placing.place_order`, `client_close.close_on_request`,
`amending.cancel_order`/`modify_order`), never through a second order path:

* symbols `NIFTY09DEC2526100CE` on exchange `NFO` are our contracts; `NSE_INDEX` names the
  underlying (`NIFTY`, `BANKNIFTY`, `FINNIFTY`);
* quantities are units (a multiple of the contract's lot size, else an error naming both);
* `pricetype` MARKET | LIMIT | SL | SL-M, `product` MIS | NRML (CNC is refused: options only);
* `strategy` is kept as the order's and position's `tag`;
* positions net the way a broker keeps them: a MARKET SELL of a symbol held long in the same
  product and tag closes lots of that holding (oldest first) through the one close path, with
  its exit snapshot, and only what exceeds the holding opens a short (a BUY mirrors it);
* the SDK's extra keyword arguments `ml_score`, `model_version`, `model_hash` and
  `features_snapshot` (a JSON string) are the model metadata; absent, they are stored null.

Errors are the domain errors of `optrade.domain.errors`; the routes answer them in OpenAlgo's
shape (`order_service.api.openalgo`). docs/openalgo.md is the mapping, endpoint by endpoint.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from optrade.clients.market_data import CapturedChain, MarketDataClient, QuoteRejected
from optrade.domain import IST, OptionType, OrderStatus, OrderType, Product, Side
from optrade.errors import (
    Conflict,
    DomainError,
    InvalidInput,
    NotFound,
    UpstreamUnavailable,
)
from optrade.instruments import get_instruments
from optrade.schemas.market import ChainLeg, OptionChain
from optrade.symbols import EXCHANGE, OptionSymbol, SymbolError, format_symbol, parse_symbol
from order_service.application.accounts import account_page
from order_service.application.amending import OrderChange, cancel_order, modify_order
from order_service.application.client_close import close_on_request
from order_service.application.placing import capture_contract, place_order
from order_service.application.strategies import open_strategy
from order_service.domain.margin import MarketState, OptionLeg, portfolio_margin
from order_service.fills import ClientPriceBounds
from order_service.market_hours import MarketClock
from order_service.records import OrderRecord, PositionRecord
from order_service.repository import Repository
from order_service.schemas import CloseRequest, UnscoredOrderRequest
from order_service.strategy_schemas import StrategyLegRequest, StrategyRequest

INDEX_EXCHANGE = "NSE_INDEX"
MODE = "analyze"  # what OpenAlgo calls a venue that records orders instead of sending them
TICK = 0.05
DEFAULT_STRATEGY = "Python"  # the SDK's default `strategy`
# Our order statuses in OpenAlgo's words (a DAY order that expired unfilled is shown cancelled,
# as brokers show it).
STATUS = {
    OrderStatus.OPEN.value: "open", OrderStatus.TRIGGER_PENDING.value: "trigger pending",
    OrderStatus.COMPLETE.value: "complete", OrderStatus.CANCELLED.value: "cancelled",
    OrderStatus.REJECTED.value: "rejected", "expired": "cancelled",
}  # fmt: skip
_OFFSET = re.compile(r"^(ATM|ITM(\d{1,2})|OTM(\d{1,2}))$")
_FUTURE = re.compile(r"^([A-Z]+)(\d{2}[A-Z]{3}\d{2})FUT$")


def _upper(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


Upper = Annotated[str, BeforeValidator(_upper)]
Action = Annotated[Literal["BUY", "SELL"], BeforeValidator(_upper)]
PriceType = Annotated[Literal["MARKET", "LIMIT", "SL", "SL-M"], BeforeValidator(_upper)]
ProductName = Annotated[str, BeforeValidator(_upper), Field(max_length=8)]
Units = Annotated[int, Field(ge=1, le=10_000_000)]
Price = Annotated[Decimal, Field(ge=0, le=10_000_000)]
Strategy = Annotated[str, Field(min_length=1, max_length=64)]


class _Body(BaseModel):
    """An OpenAlgo body: numbers may come as strings (the SDK sends them so); keys this venue
    does not use (`disclosed_quantity`, `strike_int`, ...) are accepted and ignored."""

    model_config = ConfigDict(extra="ignore")


class ModelFields(_Body):
    """The SDK's extra keyword arguments that carry a model's metadata (all optional)."""

    ml_score: float | None = Field(None, ge=0, le=1, allow_inf_nan=False)
    model_version: str | None = Field(None, min_length=1, max_length=64)
    model_hash: str | None = Field(None, pattern=r"^[0-9a-fA-F]{7,128}$")
    features_snapshot: str | dict[str, Any] | None = Field(
        None, description="a JSON object, or its text (the SDK sends keyword arguments as text)"
    )

    def metadata(self) -> dict[str, Any]:
        features = self.features_snapshot
        if isinstance(features, str):
            try:
                features = json.loads(features)
            except ValueError:
                raise InvalidInput("features_snapshot", "is not JSON text") from None
            if not isinstance(features, dict):
                raise InvalidInput("features_snapshot", "must be a JSON object")
        return {"ml_score": self.ml_score, "model_version": self.model_version,
                "model_hash": self.model_hash, "features_snapshot": features}  # fmt: skip


class _Terms(_Body):
    action: Action
    quantity: Units
    pricetype: PriceType = "MARKET"
    product: ProductName = "MIS"
    price: Price = Decimal(0)
    trigger_price: Price = Decimal(0)


class PlaceOrderBody(_Terms, ModelFields):
    strategy: Strategy = DEFAULT_STRATEGY
    symbol: Upper = Field(max_length=40)
    exchange: Upper = Field(max_length=16)


class SmartOrderBody(PlaceOrderBody):
    quantity: Annotated[int, Field(ge=0, le=10_000_000)]  # type: ignore[assignment]
    position_size: Annotated[int, Field(ge=-10_000_000, le=10_000_000)]


class OptionsOrderBody(_Terms, ModelFields):
    strategy: Strategy = DEFAULT_STRATEGY
    underlying: Upper = Field(max_length=30)
    exchange: Upper = Field(max_length=16)
    expiry_date: Upper | None = Field(None, max_length=12)
    offset: Upper = Field(max_length=8)
    option_type: Annotated[Literal["CE", "PE"], BeforeValidator(_upper)]


class MultiLeg(_Terms):
    offset: Upper = Field(max_length=8)
    option_type: Annotated[Literal["CE", "PE"], BeforeValidator(_upper)]
    expiry_date: Upper | None = Field(None, max_length=12)


class OptionsMultiOrderBody(ModelFields):
    strategy: Strategy
    underlying: Upper = Field(max_length=30)
    exchange: Upper = Field(max_length=16)
    expiry_date: Upper | None = Field(None, max_length=12)
    legs: list[MultiLeg] = Field(min_length=1, max_length=20)


class BasketItem(_Terms, ModelFields):
    symbol: Upper = Field(max_length=40)
    exchange: Upper = Field(max_length=16)


class BasketOrderBody(ModelFields):
    strategy: Strategy = DEFAULT_STRATEGY
    orders: list[BasketItem] = Field(min_length=1, max_length=50)


class OrderIdBody(_Body):
    orderid: str = Field(min_length=1, max_length=20)
    strategy: Strategy = DEFAULT_STRATEGY


class ModifyOrderBody(OrderIdBody):
    quantity: Units
    price: Price = Decimal(0)
    trigger_price: Price = Decimal(0)


class StrategyBody(_Body):
    strategy: Strategy = DEFAULT_STRATEGY


class OpenPositionBody(_Body):
    strategy: Strategy = DEFAULT_STRATEGY
    symbol: Upper = Field(max_length=40)
    exchange: Upper = Field(max_length=16)
    product: ProductName


class BookBody(_Body):
    """A book (orders, trades, positions): all of them, or those of one `strategy` (our
    extension: OpenAlgo's books take only the key)."""

    strategy: Strategy | None = None


class MarginItem(_Terms):
    symbol: Upper = Field(max_length=40)
    exchange: Upper = Field(max_length=16)


class MarginBody(_Body):
    positions: list[MarginItem] = Field(min_length=1, max_length=50)


class OptionChainBody(_Body):
    underlying: Upper = Field(max_length=30)
    exchange: Upper = Field(max_length=16)
    expiry_date: Upper | None = Field(None, max_length=12)
    strike_count: Annotated[int, Field(ge=1, le=100)] | None = None


class SymbolBody(_Body):
    symbol: Upper = Field(max_length=40)
    exchange: Upper = Field(max_length=16)


class OptionSymbolBody(_Body):
    underlying: Upper = Field(max_length=30)
    exchange: Upper = Field(max_length=16)
    expiry_date: Upper | None = Field(None, max_length=12)
    offset: Upper = Field(max_length=8)
    option_type: Annotated[Literal["CE", "PE"], BeforeValidator(_upper)]


class ExpiryBody(_Body):
    symbol: Upper = Field(max_length=30)
    exchange: Upper = Field(max_length=16)
    instrumenttype: Annotated[Literal["OPTIONS", "FUTURES"], BeforeValidator(_upper)]


@dataclass(frozen=True)
class Venue:
    """What the use cases here work with: the order core and its market, at `clock`."""

    repository: Repository
    market_data: MarketDataClient
    clock: MarketClock
    square_off_at: time
    bounds: ClientPriceBounds
    capture_enabled: bool


# -- translation: symbols, expiries, offsets, quantities ------------------------------------


def contract_of(symbol: str, exchange: str) -> OptionSymbol:
    """The contract an OpenAlgo option symbol on `NFO` names (400 naming it otherwise)."""
    if exchange != EXCHANGE:
        raise InvalidInput(
            "exchange", f"{exchange!r}: orders here are on index options, exchange NFO"
        )
    unknown = InvalidInput("symbol", f"Symbol '{symbol}' not found for exchange '{exchange}'")
    try:
        contract = parse_symbol(symbol)
    except SymbolError:
        raise unknown from None
    if get_instruments().get(contract.underlying) is None:
        raise unknown
    return contract


def expiry_date(text: str) -> date:
    """`09DEC25` (or `09-DEC-25`) as a date."""
    try:
        return datetime.strptime(text.replace("-", ""), "%d%b%y").date()
    except ValueError:
        raise InvalidInput("expiry_date", f"{text!r} is not a date of the form DDMMMYY") from None


def expiry_text(day: date) -> str:
    """A date as OpenAlgo's `/optionchain` writes it: `09DEC25`."""
    return day.strftime("%d%b%y").upper()


def underlying_of(underlying: str, exchange: str, expiry: str | None) -> tuple[str, date]:
    """The index and expiry of an options request: `NIFTY` on NSE_INDEX (or NFO) with its
    `expiry_date`, or a future `NIFTY30DEC25FUT` whose expiry wins."""
    if exchange not in (INDEX_EXCHANGE, EXCHANGE):
        raise InvalidInput("exchange", f"{exchange!r}: the underlying is on NSE_INDEX (or NFO)")
    name, embedded = underlying, None
    if future := _FUTURE.match(underlying):
        name, embedded = future[1], future[2]
    if get_instruments().get(name) is None:
        known = ", ".join(get_instruments())
        raise InvalidInput("underlying", f"{underlying!r} is not one of {known}")
    text = embedded or expiry
    if text is None:
        raise InvalidInput("expiry_date", "required (DDMMMYY) unless the underlying is a future")
    return name, expiry_date(text)


def lots_of(units: int, contract: OptionSymbol, lot_size: int) -> int:
    """OpenAlgo's quantity (units) in lots of `contract` (400 when not a multiple)."""
    if units % lot_size:
        raise InvalidInput(
            "quantity",
            f"Quantity {units} is not a multiple of the lot size {lot_size} of {contract}",
        )
    return units // lot_size


async def market_lot_size(venue: Venue, contract: OptionSymbol) -> int:
    """The contract's lot size as the market quotes it now (what its fill is sized by)."""
    captured = await capture_contract(venue.market_data, contract, venue.clock.instant(None))
    return captured.quote.lot_size


def product_of(name: str) -> Product:
    if name == "CNC":
        raise InvalidInput("product", "CNC is for equity delivery; options take MIS or NRML")
    try:
        return Product(name)
    except ValueError:
        raise InvalidInput("product", f"{name!r} is not MIS or NRML") from None


def offset_strike(chain: OptionChain, option_type: str, offset: str) -> tuple[float, float]:
    """The strike `offset` (ATM, ITM<n>, OTM<n>) names on `chain`, and the ATM strike.

    ATM is the listed strike nearest the spot; a call n strikes below it is ITM<n>, above it
    OTM<n>; a put the reverse (OpenAlgo's labels)."""
    found = _OFFSET.match(offset)
    if found is None:
        raise InvalidInput("offset", f"{offset!r} is not ATM, ITM1..ITM50 or OTM1..OTM50")
    strikes = sorted(row.strike for row in chain.strikes if row.leg(option_type) is not None)
    if not strikes:
        raise InvalidInput("expiry_date", f"no {option_type} is listed on {chain.expiry}")
    atm = min(range(len(strikes)), key=lambda i: (abs(strikes[i] - chain.spot), strikes[i]))
    itm, otm = int(found[2] or 0), int(found[3] or 0)
    up = otm - itm if option_type == "CE" else itm - otm  # strikes above the ATM
    index = atm + up
    if not 0 <= index < len(strikes):
        raise InvalidInput("offset", f"{offset} is beyond the listed strikes of {chain.expiry}")
    return strikes[index], strikes[atm]


def label_of(strike: float, atm: float, option_type: str, strikes: Sequence[float]) -> str:
    """OpenAlgo's moneyness label of a strike: ATM, ITM<n> or OTM<n>."""
    steps = strikes.index(strike) - strikes.index(atm)
    if steps == 0:
        return "ATM"
    in_the_money = (steps < 0) == (option_type == "CE")
    return f"{'ITM' if in_the_money else 'OTM'}{abs(steps)}"


def ist_stamp(moment: datetime | None) -> str:
    """OpenAlgo's timestamp: `09-Dec-2025 10:15:00` in IST."""
    return "" if moment is None else moment.astimezone(IST).strftime("%d-%b-%Y %H:%M:%S")


def symbol_of(row: OrderRecord | PositionRecord) -> str:
    return format_symbol(row.underlying, row.expiry, row.strike, row.option_type)


def _number(value: Decimal | float | None) -> float:
    return 0.0 if value is None else float(value)


def order_row(order: OrderRecord) -> dict[str, Any]:
    """One order in OpenAlgo's orderbook / orderstatus form (quantity in units)."""
    units = order.lots * (order.lot_size or 0)
    return {
        "action": order.side, "symbol": symbol_of(order), "exchange": EXCHANGE,
        "orderid": str(order.id), "product": order.product, "quantity": str(units),
        "price": _number(order.price), "pricetype": order.order_type,
        "order_status": STATUS.get(order.status, order.status),
        "trigger_price": _number(order.trigger_price),
        "average_price": _number(order.average_price),
        "timestamp": ist_stamp(order.created_at), "strategy": order.tag,
    }  # fmt: skip


@dataclass(frozen=True)
class NetPosition:
    """One symbol and product net of its longs and shorts (units, signed)."""

    symbol: str
    product: str
    quantity: int
    average_price: Decimal


def net_positions(positions: Iterable[PositionRecord]) -> list[NetPosition]:
    """Open lots netted per (symbol, product): longs count +, shorts −; the average is the
    entry of the side that remains, weighted by its open units (0 when flat)."""
    groups: dict[tuple[str, str], list[PositionRecord]] = {}
    for position in positions:
        groups.setdefault((symbol_of(position), position.product), []).append(position)
    book = []
    for (symbol, product), rows in groups.items():
        signed = [(p, Side(p.side).sign * p.quantity_open * p.lot_size) for p in rows]
        net = sum(units for _, units in signed)
        remaining = [(p, abs(u)) for p, u in signed if u and (u > 0) == (net > 0)]
        held = sum(units for _, units in remaining)
        average = (
            sum((p.entry_price * units for p, units in remaining), Decimal(0)) / held
            if net and held
            else Decimal(0)
        )
        book.append(NetPosition(symbol, product, net, average.quantize(Decimal("0.01"))))
    return book


def start_of_day(moment: datetime) -> datetime:
    """Midnight IST of `moment`'s day: where a broker's day book starts."""
    return datetime.combine(moment.astimezone(IST).date(), time(0), tzinfo=IST)


# -- orders ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Intent:
    """An OpenAlgo order in our words."""

    contract: OptionSymbol
    side: Side
    lots: int
    order_type: OrderType
    price: Decimal | None
    trigger_price: Decimal | None
    product: Product
    tag: str
    metadata: dict[str, Any]


def intent_of(
    terms: _Terms, contract: OptionSymbol, lot_size: int, tag: str, metadata: dict[str, Any]
) -> Intent:
    order_type = OrderType(terms.pricetype)
    takes_price = order_type in (OrderType.LIMIT, OrderType.SL)
    takes_trigger = order_type in (OrderType.SL, OrderType.SL_M)
    return Intent(
        contract, Side(terms.action), lots_of(terms.quantity, contract, lot_size), order_type,
        terms.price if takes_price else None,
        terms.trigger_price if takes_trigger else None,
        product_of(terms.product), tag, metadata,
    )  # fmt: skip


async def submit(venue: Venue, intent: Intent) -> OrderRecord:
    """Place `intent`, netted against the opposite holding of the same contract, product and
    tag: a MARKET order closes those lots first (oldest first, through the one close path), and
    only what exceeds them opens a position. Answers the order that opened (or, when all of it
    closed, the first closing order)."""
    remaining, first_close = intent.lots, None
    if intent.order_type is OrderType.MARKET:
        contract = intent.contract
        held = await venue.repository.open_positions_of(
            (contract.underlying, contract.expiry, contract.strike, contract.option_type),
            side=intent.side.closing.value, product=intent.product.value, tag=intent.tag,
        )  # fmt: skip
        for position in held:
            if remaining == 0:
                break
            lots = min(remaining, position.quantity_open)
            closed = await close_on_request(
                repository=venue.repository, market_data=venue.market_data,
                position_id=position.id, close=CloseRequest(lots=lots), idempotency_key=None,
                clock=venue.clock, bounds=venue.bounds, capture_enabled=venue.capture_enabled,
            )  # fmt: skip
            first_close = first_close or closed.order
            remaining -= lots
    if remaining == 0 and first_close is not None:
        return first_close
    request = UnscoredOrderRequest(
        symbol=str(intent.contract), side=intent.side, lots=remaining,
        order_type=intent.order_type, price=intent.price, trigger_price=intent.trigger_price,
        product=intent.product, **intent.metadata,
    )  # fmt: skip
    placed = await place_order(
        repository=venue.repository, market_data=venue.market_data, order=request,
        idempotency_key=None, timing=venue.clock.timing(None), square_off_at=venue.square_off_at,
        tag=intent.tag,
    )  # fmt: skip
    return placed.order


async def place(venue: Venue, body: PlaceOrderBody) -> dict[str, Any]:
    contract = contract_of(body.symbol, body.exchange)
    lot_size = await market_lot_size(venue, contract)
    order = await submit(venue, intent_of(body, contract, lot_size, body.strategy, body.metadata()))
    return {"status": "success", "orderid": str(order.id), "mode": MODE}


async def place_smart(venue: Venue, body: SmartOrderBody) -> dict[str, Any]:
    """Bring the net position of the symbol (product, tag) to `position_size` units."""
    contract = contract_of(body.symbol, body.exchange)
    product = product_of(body.product)
    current = await net_quantity(venue, str(contract), product.value, body.strategy)
    change = body.position_size - current
    if change == 0:
        return {"status": "success", "message": "No action needed. Position size matches",
                "mode": MODE}  # fmt: skip
    terms = body.model_copy(
        update={"action": "BUY" if change > 0 else "SELL", "quantity": abs(change)}
    )
    lot_size = await market_lot_size(venue, contract)
    order = await submit(
        venue, intent_of(terms, contract, lot_size, body.strategy, body.metadata())
    )
    return {"status": "success", "orderid": str(order.id), "mode": MODE}


async def capture_chain(venue: Venue, underlying: str, expiry: date) -> CapturedChain:
    try:
        return await venue.market_data.afetch_chain(underlying, expiry, venue.clock.instant(None))
    except QuoteRejected as exc:
        raise InvalidInput("expiry_date", exc.detail) from exc
    except Exception as exc:  # QuoteUnavailable and the breakers' errors
        raise UpstreamUnavailable(f"no market-data provider answered: {exc}") from exc


async def options_order(venue: Venue, body: OptionsOrderBody) -> dict[str, Any]:
    """Resolve `offset` against the chain at this instant, then place as `placeorder` does."""
    underlying, expiry = underlying_of(body.underlying, body.exchange, body.expiry_date)
    captured = await capture_chain(venue, underlying, expiry)
    strike, _ = offset_strike(captured.chain, body.option_type, body.offset)
    contract = OptionSymbol(underlying, expiry, Decimal(str(strike)), body.option_type)
    lot_size = captured.chain.lot_size
    order = await submit(venue, intent_of(body, contract, lot_size, body.strategy, body.metadata()))
    return {
        "status": "success", "orderid": str(order.id), "symbol": str(contract),
        "exchange": EXCHANGE, "underlying": body.underlying,
        "underlying_ltp": captured.chain.spot, "offset": body.offset,
        "option_type": body.option_type, "mode": MODE,
    }  # fmt: skip


async def place_strategy(venue: Venue, body: OptionsMultiOrderBody) -> dict[str, Any]:
    """All legs of a multi-leg strategy, atomically, through the strategies path: every leg
    priced from one chain observation, the basket margined and funded as one, every leg filled
    in one transaction or none (OpenAlgo's own `optionsmultiorder` places leg by leg)."""
    leg_expiry = next((leg.expiry_date for leg in body.legs if leg.expiry_date), None)
    underlying, expiry = underlying_of(
        body.underlying, body.exchange, body.expiry_date or leg_expiry
    )
    for index, leg in enumerate(body.legs):
        if leg.pricetype != "MARKET":
            raise InvalidInput(f"legs.{index}.pricetype", "a strategy's legs are MARKET orders")
    legs = [
        StrategyLegRequest(offset=leg.offset, option_type=OptionType(leg.option_type),
                           side=Side(leg.action), units=leg.quantity)
        for leg in body.legs
    ]  # fmt: skip
    request = StrategyRequest.model_construct(  # model metadata may be absent: stored null
        strategy=body.strategy or "openalgo", underlying=underlying, expiry=expiry, legs=legs,
        product=product_of(body.legs[0].product), account="default", as_of=None,
        stop_loss_pnl=None, target_pnl=None, exit_at=None, **body.metadata(),
    )  # fmt: skip
    view = await open_strategy(
        repository=venue.repository, market_data=venue.market_data, request=request,
        idempotency_key=None, timing=venue.clock.timing(None), square_off_at=venue.square_off_at,
    )  # fmt: skip
    if not view.replayed:
        await venue.repository.tag_strategy(view.strategy.id, body.strategy)
    orders = {o.position_id: o for o in await venue.repository.orders_of_positions(
        [p.id for p in view.positions])}  # fmt: skip
    results = [
        {"leg": index + 1, "symbol": _symbol_of(position), "offset": leg.offset,
         "option_type": leg.option_type, "action": leg.action, "status": "success",
         "orderid": str(orders[position.id].id) if position.id in orders else None}
        for index, (leg, position) in enumerate(zip(body.legs, view.positions, strict=True))
    ]  # fmt: skip
    return {
        "status": "success", "underlying": body.underlying, "mode": MODE, "atomic": True,
        "strategy_id": view.strategy.id, "results": results,
    }  # fmt: skip


def _symbol_of(position: PositionRecord) -> str:
    return str(OptionSymbol(position.underlying, position.expiry, position.strike,
                            position.option_type))  # fmt: skip


async def options_multi_order(venue: Venue, body: OptionsMultiOrderBody) -> dict[str, Any]:
    return await place_strategy(venue, body)


async def basket(venue: Venue, body: BasketOrderBody) -> dict[str, Any]:
    """Each order on its own (BUY before SELL, as OpenAlgo does); one failing fails alone."""
    results = []
    ordered = sorted(body.orders, key=lambda item: item.action != "BUY")
    for item in ordered:
        try:
            contract = contract_of(item.symbol, item.exchange)
            metadata = item.metadata() if item.ml_score is not None else body.metadata()
            lot_size = await market_lot_size(venue, contract)
            intent = intent_of(item, contract, lot_size, body.strategy, metadata)
            order = await submit(venue, intent)
        except DomainError as exc:
            results.append({"symbol": item.symbol, "status": "error", "message": exc.detail})
            continue
        results.append({"symbol": item.symbol, "status": "success", "orderid": str(order.id)})
    return {"status": "success", "results": results, "mode": MODE}


async def _order(venue: Venue, orderid: str) -> OrderRecord:
    if not orderid.isdigit():
        raise NotFound(f"Order {orderid} not found")
    try:
        return await venue.repository.order(int(orderid))
    except NotFound:
        raise NotFound(f"Order {orderid} not found") from None


async def modify(venue: Venue, body: ModifyOrderBody) -> dict[str, Any]:
    found = await _order(venue, body.orderid)
    units = found.lot_size or 1
    if body.quantity % units:
        raise InvalidInput(
            "quantity", f"Quantity {body.quantity} is not a multiple of the lot size {units}"
        )
    order_type = OrderType(found.order_type)
    change = OrderChange(
        price=body.price if order_type in (OrderType.LIMIT, OrderType.SL) else None,
        trigger_price=body.trigger_price if order_type in (OrderType.SL, OrderType.SL_M) else None,
        lots=body.quantity // units,
    )
    changed = await modify_order(venue.repository, found.id, change)
    return {"status": "success", "orderid": str(changed.id), "mode": MODE}


async def cancel(venue: Venue, body: OrderIdBody) -> dict[str, Any]:
    found = await _order(venue, body.orderid)
    cancelled = await cancel_order(venue.repository, found.id)
    return {"status": "success", "orderid": str(cancelled.id), "mode": MODE}


async def cancel_all(venue: Venue, body: StrategyBody) -> dict[str, Any]:
    """Cancel every pending order of the strategy."""
    since = start_of_day(venue.clock.now)
    pending = await venue.repository.book_orders(
        since, tag=body.strategy, statuses=(OrderStatus.OPEN, OrderStatus.TRIGGER_PENDING)
    )
    done, failed = [], []
    for order in pending:
        try:
            await cancel_order(venue.repository, order.id)
        except Conflict as exc:
            failed.append({"orderid": str(order.id), "reason": exc.detail})
            continue
        done.append(str(order.id))
    return {
        "status": "success", "canceled_orders": done, "failed_cancellations": failed,
        "message": f"Canceled {len(done)} orders. Failed to cancel {len(failed)} orders.",
        "mode": MODE,
    }  # fmt: skip


async def close_strategy(venue: Venue, body: StrategyBody) -> dict[str, Any]:
    """Square off every open position of the strategy through the one close path."""
    held = await venue.repository.book_positions(venue.clock.now, tag=body.strategy, open_only=True)
    if not held:
        return {"status": "success", "message": "No open positions to close", "mode": MODE}
    for position in held:
        await close_on_request(
            repository=venue.repository, market_data=venue.market_data,
            position_id=position.id, close=CloseRequest(), idempotency_key=None,
            clock=venue.clock, bounds=venue.bounds, capture_enabled=venue.capture_enabled,
        )  # fmt: skip
    return {"status": "success", "message": "All Open Positions Squared Off", "mode": MODE}


# -- reads ----------------------------------------------------------------------------------


async def order_status(venue: Venue, body: OrderIdBody) -> dict[str, Any]:
    return {"status": "success", "data": order_row(await _order(venue, body.orderid))}


async def net_quantity(venue: Venue, symbol: str, product: str, tag: str | None) -> int:
    held = await venue.repository.book_positions(venue.clock.now, tag=tag, open_only=True)
    return sum(
        net.quantity
        for net in net_positions(held)
        if net.symbol == symbol and net.product == product
    )


async def open_position(venue: Venue, body: OpenPositionBody) -> dict[str, Any]:
    contract = contract_of(body.symbol, body.exchange)
    quantity = await net_quantity(venue, str(contract), body.product, body.strategy)
    return {"status": "success", "quantity": str(quantity)}


async def order_book(venue: Venue, body: BookBody) -> dict[str, Any]:
    """Today's orders and every pending one (oldest first), with OpenAlgo's statistics."""
    orders = await venue.repository.book_orders(start_of_day(venue.clock.now), tag=body.strategy)
    rows = [order_row(order) for order in orders]

    def count(key: str, value: str) -> float:
        return float(sum(1 for row in rows if row[key] == value))

    statistics = {
        "total_buy_orders": count("action", "BUY"), "total_sell_orders": count("action", "SELL"),
        "total_completed_orders": count("order_status", "complete"),
        "total_open_orders": count("order_status", "open")
        + count("order_status", "trigger pending"),
        "total_rejected_orders": count("order_status", "rejected"),
    }  # fmt: skip
    return {"status": "success", "data": {"orders": rows, "statistics": statistics}}


async def trade_book(venue: Venue, body: BookBody) -> dict[str, Any]:
    """Today's fills: every complete order, opening or closing."""
    orders = await venue.repository.book_orders(
        start_of_day(venue.clock.now), tag=body.strategy, statuses=(OrderStatus.COMPLETE,)
    )
    data = []
    for order in orders:
        units = order.lots * (order.lot_size or 0)
        price = _number(order.average_price)
        data.append({
            "action": order.side, "symbol": symbol_of(order), "exchange": EXCHANGE,
            "orderid": str(order.id), "product": order.product, "quantity": float(units),
            "average_price": price, "timestamp": ist_stamp(order.filled_at),
            "trade_value": round(price * units, 2), "strategy": order.tag,
        })  # fmt: skip
    return {"status": "success", "data": data}


async def position_book(venue: Venue, body: BookBody) -> dict[str, Any]:
    """Net quantity per symbol and product: open positions, and today's closed ones at 0."""
    since = start_of_day(venue.clock.now)
    positions = await venue.repository.book_positions(since, tag=body.strategy)
    trades = await venue.repository.book_trades(since, tag=body.strategy)
    by_position = {p.id: p for p in positions}
    realized: dict[tuple[str, str], Decimal] = {}
    for trade in trades:
        position = by_position.get(trade.position_id)
        if position is not None:
            key = (symbol_of(position), position.product)
            realized[key] = realized.get(key, Decimal(0)) + trade.pnl
    data = [
        {"symbol": net.symbol, "exchange": EXCHANGE, "product": net.product,
         "quantity": str(net.quantity), "average_price": str(net.average_price),
         "pnl": str(realized.get((net.symbol, net.product), Decimal("0.00")))}
        for net in net_positions(positions)
    ]  # fmt: skip
    return {"status": "success", "data": data}


def _leg_out(leg: ChainLeg, symbol: str, label: str, lot_size: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "symbol": symbol, "label": label, "ltp": leg.ltp or 0, "bid": leg.bid or 0,
        "ask": leg.ask or 0, "volume": leg.volume or 0, "oi": leg.oi or 0,
        "lotsize": lot_size, "tick_size": TICK,
    }  # fmt: skip
    greeks = {"implied_volatility": leg.iv, "delta": leg.delta, "gamma": leg.gamma,
              "theta": leg.theta, "vega": leg.vega}  # fmt: skip
    return out | {name: value for name, value in greeks.items() if value is not None}


async def option_chain(venue: Venue, body: OptionChainBody) -> dict[str, Any]:
    """The chain of one expiry at this instant, labelled as OpenAlgo labels it, with our IV and
    Greeks (Black-76 on the chain's forward; OpenAlgo's units: IV percent, theta per day)."""
    underlying, expiry = underlying_of(body.underlying, body.exchange, body.expiry_date)
    chain = (await capture_chain(venue, underlying, expiry)).chain
    strikes = [row.strike for row in chain.strikes]
    if not strikes:
        raise NotFound(f"no strikes listed for {underlying} {expiry_text(expiry)}")
    atm = min(strikes, key=lambda strike: (abs(strike - chain.spot), strike))
    rows = chain.strikes
    if body.strike_count is not None:
        at = strikes.index(atm)
        rows = rows[max(0, at - body.strike_count) : at + body.strike_count + 1]
    out = []
    for row in rows:
        sides: dict[str, Any] = {}
        for kind in ("CE", "PE"):
            leg = row.leg(kind)
            symbol = format_symbol(underlying, expiry, row.strike, kind)
            label = label_of(row.strike, atm, kind, strikes)
            sides[kind.lower()] = None if leg is None else _leg_out(leg, symbol, label,
                                                                    chain.lot_size)  # fmt: skip
        out.append({"strike": row.strike, **sides})
    return {
        "status": "success", "underlying": underlying, "underlying_symbol": underlying,
        "underlying_exchange": INDEX_EXCHANGE, "underlying_ltp": chain.spot,
        "expiry_date": expiry_text(expiry), "atm_strike": atm, "forward_price": chain.forward,
        "quotes_included": True, "greeks_included": True, "chain": out,
    }  # fmt: skip


async def option_symbol(venue: Venue, body: OptionSymbolBody) -> dict[str, Any]:
    underlying, expiry = underlying_of(body.underlying, body.exchange, body.expiry_date)
    chain = (await capture_chain(venue, underlying, expiry)).chain
    strike, _ = offset_strike(chain, body.option_type, body.offset)
    return {
        "status": "success", "symbol": format_symbol(underlying, expiry, strike, body.option_type),
        "exchange": EXCHANGE, "lotsize": chain.lot_size, "tick_size": TICK,
        "underlying_ltp": chain.spot,
    }  # fmt: skip


async def option_greeks(venue: Venue, body: SymbolBody) -> dict[str, Any]:
    """One contract's IV and Greeks from our pricer (rho is not computed: omitted)."""
    contract = contract_of(body.symbol, body.exchange)
    quote = (await capture_contract(venue.market_data, contract, venue.clock.instant(None))).quote
    greeks = {"delta": quote.delta, "gamma": quote.gamma, "theta": quote.theta,
              "vega": quote.vega}  # fmt: skip
    return {
        "status": "success", "symbol": str(contract), "exchange": EXCHANGE,
        "underlying": contract.underlying, "strike": float(contract.strike),
        "option_type": contract.option_type,
        "expiry_date": contract.expiry.strftime("%d-%b-%Y"),
        "days_to_expiry": None if quote.time_to_expiry_years is None
        else round(quote.time_to_expiry_years * 365, 4),
        "spot_price": quote.forward if quote.forward is not None else quote.spot,
        "option_price": quote.ltp,
        "interest_rate": None if quote.rate is None else round(quote.rate * 100, 4),
        "implied_volatility": quote.iv, "greeks": greeks,
    }  # fmt: skip


async def quotes(venue: Venue, body: SymbolBody) -> dict[str, Any]:
    """An option's quote on NFO, or an index's value on NSE_INDEX (no OHLC: null)."""
    unknown = {"open": None, "high": None, "low": None, "prev_close": None}
    if body.exchange == INDEX_EXCHANGE:
        listing = await _listing(venue, body.symbol)
        data = {"ltp": listing.spot, "bid": 0, "ask": 0, "volume": 0, **unknown}
        return {"status": "success", "data": data}
    contract = contract_of(body.symbol, body.exchange)
    quote = (await capture_contract(venue.market_data, contract, venue.clock.instant(None))).quote
    data = {"ltp": quote.ltp, "bid": quote.bid, "ask": quote.ask, "volume": quote.volume,
            "oi": quote.oi, **unknown}  # fmt: skip
    return {"status": "success", "data": data}


async def _listing(venue: Venue, name: str) -> Any:
    try:
        listings = await venue.market_data.aunderlyings(venue.clock.instant(None))
    except QuoteRejected as exc:
        raise InvalidInput("symbol", exc.detail) from exc
    except Exception as exc:
        raise UpstreamUnavailable(f"no market-data provider answered: {exc}") from exc
    listing = listings.find(name)
    if listing is None:
        raise InvalidInput("symbol", f"Symbol '{name}' not found for exchange 'NSE_INDEX'")
    return listing


async def expiries(venue: Venue, body: ExpiryBody) -> dict[str, Any]:
    """The listed option expiries, nearest first, as `09-DEC-25` (no futures are served)."""
    if body.exchange != EXCHANGE:
        raise InvalidInput("exchange", f"{body.exchange!r}: expiries are listed on NFO")
    if body.instrumenttype == "FUTURES":
        return {"status": "success", "message": "No futures are served here", "data": []}
    listing = await _listing(venue, body.symbol)
    data = [e.expiry.strftime("%d-%b-%y").upper() for e in listing.expiries]
    return {"status": "success", "message": f"Found {len(data)} expiry dates", "data": data}


async def margin(venue: Venue, body: MarginBody) -> dict[str, Any]:
    """Our SPAN-like margin of the basket alone (docs/margins.md), in OpenAlgo's fields: each
    leg priced and its IV taken from the chain of its expiry at this instant."""
    legs: list[OptionLeg] = []
    chains: dict[tuple[str, date], OptionChain] = {}
    for item in body.positions:
        contract = contract_of(item.symbol, item.exchange)
        key = (contract.underlying, contract.expiry)
        if key not in chains:
            chains[key] = (await capture_chain(venue, *key)).chain
        lots = lots_of(item.quantity, contract, chains[key].lot_size)
        row = chains[key].strike(float(contract.strike))
        leg = None if row is None else row.leg(contract.option_type)
        if leg is None or leg.iv is None:
            raise InvalidInput("symbol", f"{contract} has no quote with an IV to margin it by")
        units = Side(item.action).sign * lots * chains[key].lot_size
        legs.append(OptionLeg(contract.expiry, float(contract.strike),
                              OptionType(contract.option_type), units, leg.iv / 100,
                              leg.ltp))  # fmt: skip
    underlyings = {underlying for underlying, _ in chains}
    if len(underlyings) > 1:
        raise InvalidInput("positions", "margin one underlying at a time")
    first = next(iter(chains.values()))
    market = MarketState(
        spot=first.spot, as_of=first.as_of, rate=first.rate or 0.0,
        forwards={c.expiry: c.forward for c in chains.values() if c.forward is not None},
    )  # fmt: skip
    found = portfolio_margin(legs, market)
    return {"status": "success", "data": {
        "total_margin_required": float(found.margin), "span_margin": float(found.span),
        "exposure_margin": float(found.exposure),
    }}  # fmt: skip


async def funds(venue: Venue) -> dict[str, Any]:
    """The default account's funds page in OpenAlgo's fields (numbers as strings)."""
    page = await account_page(venue.repository, "default")
    return {"status": "success", "data": {
        "availablecash": f"{page.available:.2f}", "collateral": "0.00",
        "m2mrealized": f"{page.realized:.2f}", "m2munrealized": f"{page.unrealized:.2f}",
        "utiliseddebits": f"{page.used_margin:.2f}",
    }}  # fmt: skip


def analyzer_status() -> dict[str, Any]:
    """Always analyze mode: every order here is a paper order."""
    return {"status": "success", "data": {"analyze_mode": True, "mode": MODE, "total_logs": 0}}
