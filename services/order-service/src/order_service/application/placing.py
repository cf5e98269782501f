"""Place an order: capture the market first (the order's arrival observation), match it by the
venue's rules, then one short unit of work.

A MARKET order, or a LIMIT or stop marketable on arrival, fills at once (one transaction inserts
the position and the order that opened it); a LIMIT or a stop that is not rests as an `open` or
`trigger_pending` order for the order engine to evaluate on the observations after this one; an
IOC that does not fill on arrival is `expired`; a stop whose trigger is already crossed is
`rejected` (422 naming `trigger_price`, as brokers do; the rejected order is stored without the
client's keys so a corrected retry may reuse them). No transaction is open during the market-data
call.

Idempotency costs nothing on the happy path: the order row holds the client's
`Idempotency-Key` and `client_order_id` (unique), inserted with `ON CONFLICT DO NOTHING`; no row
back means the key is taken, the unit of work rolls back (no position is left), and the winner is
read once and replayed (or refused as a reuse for a different order). When a request with a key
cannot be carried out now (market data is down, the contract expired), the earlier outcome under
that key, if there is one, is replayed instead of the error.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal
from typing import Any

from optrade.calendar import expiry_close
from optrade.clients.market_data import (
    CapturedQuote,
    MarketDataClient,
    QuoteRejected,
    QuoteRequest,
    QuoteUnavailable,
)
from optrade.domain import OrderIntent, OrderStatus, Product, Side, TradeMode
from optrade.errors import (
    Conflict,
    DomainError,
    InsufficientFunds,
    InvalidInput,
    UpstreamUnavailable,
)
from optrade.instruments import get_instruments
from optrade.schemas.market import OptionQuote
from optrade.symbols import OptionSymbol
from order_service.application.closing import IDEMPOTENCY_HEADER, SNAPSHOTS
from order_service.application.funds import OpeningFunds, funded_opening
from order_service.domain.exits import (
    ExitWatch,
    PositionExits,
    check_exits,
    evaluate_exits,
    square_off_instant,
)
from order_service.domain.matching import Match, Observation, match
from order_service.domain.orders import (
    OrderTerms,
    PendingOrder,
    check_terms,
    expiry_of,
    initial_status,
)
from order_service.fills import Fill
from order_service.market_hours import MarketTiming
from order_service.records import OrderRecord, PositionRecord
from order_service.repository import KeyTaken, Repository, UnitOfWork
from order_service.schemas import OrderRequest
from order_service.snapshots import captured_snapshot


@dataclass(frozen=True)
class PlaceOutcome:
    order: OrderRecord
    position: PositionRecord | None  # None while the order rests (or expired, or was rejected)
    replayed: bool  # True: an earlier request with this key placed it


@dataclass(frozen=True)
class Filling:
    """How an opening order fills: at what, from which capture, when and how it is marked."""

    fill: Fill
    captured: CapturedQuote
    recorded_at: datetime  # opened_at
    instant: datetime  # the observation's market instant
    mode: TradeMode
    off_hours: bool


def observation_of(quote: OptionQuote) -> Observation:
    """The venue's observation of one contract: its quote at the quote's market instant."""
    return Observation(quote.as_of, ltp=_price(quote.ltp), bid=_price(quote.bid),
                       ask=_price(quote.ask))  # fmt: skip


def _price(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(str(value))


async def place_order(
    *,
    repository: Repository,
    market_data: MarketDataClient,
    order: OrderRequest,
    idempotency_key: str | None,
    timing: MarketTiming,
    square_off_at: time,
    tag: str | None = None,
) -> PlaceOutcome:
    """Place `order`: filled, resting, expired or rejected on arrival; or replay an earlier one.

    `tag` is the client's free-text label (OpenAlgo's `strategy`), kept on the order and on the
    position it fills into."""
    order, contract, lots = resolve_order(order)
    fingerprint = order.fingerprint(lots)
    terms, exits = order_terms(order)
    try:
        check_not_expired(contract, timing.instant)
        check_square_off(terms.product, timing.instant, square_off_at)
        captured = await capture_contract(market_data, contract, timing.instant)
        if order.units is not None and order.units != lots * captured.quote.lot_size:
            raise InvalidInput(
                "units",
                f"not a multiple of the lot size {captured.quote.lot_size} of this contract",
            )
        arrival = observation_of(captured.quote)
        pending = PendingOrder(terms, initial_status(terms), expiry_of(terms, timing.instant))
        result = match(pending, arrival, on_arrival=True)
        if result.fill is not None:
            _check_exits_on_arrival(order.side, exits, terms.product, arrival, timing.instant,
                                    square_off_at)  # fmt: skip
    except DomainError:
        # A retry of an order that was placed replays it, whatever the market says now.
        earlier = await _replay_order(
            repository, idempotency_key, order.client_order_id, fingerprint
        )
        if earlier is None:
            raise
        return earlier
    values = order_values(order, contract, lots, terms, exits, timing, captured, arrival)
    values["tag"] = tag
    if result.rejection is not None:
        await _store_rejected(repository, values, result.rejection.reason)
        raise result.rejection.error()
    values |= {"idempotency_key": idempotency_key, "client_order_id": order.client_order_id,
               "request_fingerprint": fingerprint}  # fmt: skip
    try:
        outcome = await _store_arrival(repository, values, result, captured, timing, square_off_at)
    except KeyTaken:  # the key or client_order_id is taken: replay (or refuse) the winner
        earlier = await _replay_order(
            repository, idempotency_key, order.client_order_id, fingerprint
        )
        if earlier is None:
            raise Conflict("the order conflicts with a stored one; retry the request") from None
        return earlier
    except InsufficientFunds as refused:
        # A retry of an order that was placed (and spent the funds) replays it; a new order
        # the account cannot carry is kept as rejected, without the client's keys.
        earlier = await _replay_order(
            repository, idempotency_key, order.client_order_id, fingerprint
        )
        if earlier is not None:
            return earlier
        await _store_rejected(repository, _without_keys(values), refused.detail)
        raise
    return outcome


def order_terms(order: OrderRequest) -> tuple[OrderTerms, PositionExits]:
    """The order's terms and exits, checked (422 naming the field)."""
    terms = check_terms(
        OrderTerms(
            order.side,
            order.order_type,
            order.price,
            order.trigger_price,
            order.validity,
            order.product,
        )  # fmt: skip
    )
    exits = check_exits(
        order.side,
        PositionExits(order.stop_loss, order.target, order.trailing_stop, order.exit_at),
    )
    return terms, exits


def check_square_off(product: Product, instant: datetime, at: time) -> None:
    """An MIS order after the square-off time would be squared off at once: refused, as brokers
    refuse new intraday positions then."""
    if product == Product.MIS and square_off_instant(Product.MIS, instant, at) <= instant:  # type: ignore[operator]
        raise InvalidInput(
            "product", f"MIS orders are refused at or after the {at:%H:%M} IST square-off; use NRML"
        )


def _check_exits_on_arrival(
    side: Side,
    exits: PositionExits,
    product: Product,
    arrival: Observation,
    instant: datetime,
    square_off_at: time,
) -> None:
    """Exits sent with an order that fills on arrival: a stop already crossed, an `exit_at` not
    after the fill or a target already reached is refused (422 naming it), nothing written."""
    if exits == PositionExits():
        return
    watch = ExitWatch(side, exits, square_off_instant(product, instant, square_off_at),
                      arrival.ltp)  # fmt: skip
    check = evaluate_exits(watch, arrival, on_arrival=True)
    if check.rejection is not None:
        raise check.rejection.error()
    if check.exit is not None:
        raise InvalidInput("target", f"{exits.target} is already reached on arrival")


def order_values(
    order: OrderRequest,
    contract: OptionSymbol,
    lots: int,
    terms: OrderTerms,
    exits: PositionExits,
    timing: MarketTiming,
    captured: CapturedQuote,
    arrival: Observation,
) -> dict[str, Any]:
    """The order row as placed (before its status is known)."""
    return {
        "intent": OrderIntent.OPEN, "order_type": terms.order_type,
        "underlying": contract.underlying, "expiry": contract.expiry, "strike": contract.strike,
        "option_type": contract.option_type, "side": order.side, "lots": lots,
        "lot_size": captured.quote.lot_size, "price": terms.price,
        "trigger_price": terms.trigger_price, "product": terms.product,
        "validity": terms.validity, "expires_at": expiry_of(terms, timing.instant),
        "placed_at": timing.instant, "evaluated_at": arrival.instant, "mode": timing.mode,
        "ml_score": order.ml_score, "model_version": order.model_version,
        "model_hash": order.model_hash, "features_snapshot": order.features_snapshot,
        "stop_loss": exits.stop_loss, "target": exits.target,
        "trailing_stop": exits.trailing_stop, "exit_at": exits.exit_at,
        "account": order.account,
    }  # fmt: skip


async def _store_rejected(repository: Repository, values: dict[str, Any], reason: str) -> None:
    async with repository.unit_of_work() as work:
        await work.add_order(values | {"status": OrderStatus.REJECTED, "rejection_reason": reason})


def _without_keys(values: dict[str, Any]) -> dict[str, Any]:
    """A rejected order keeps none of the client's keys: a corrected retry may use them."""
    keys = ("idempotency_key", "client_order_id", "request_fingerprint")
    return {k: v for k, v in values.items() if k not in keys}


def funded(
    work: UnitOfWork, repository: Repository, order: dict[str, Any], filling: Filling
) -> AbstractAsyncContextManager[OpeningFunds]:
    """The account's funds checked for this fill under its lock (`funded_opening`)."""
    return funded_opening(
        work, repository, account=order["account"], side=Side(order["side"]),
        lots=order["lots"], captured=filling.captured, fill=filling.fill,
        instant=filling.instant,
    )  # fmt: skip


async def _store_arrival(
    repository: Repository,
    values: dict[str, Any],
    result: Match,
    captured: CapturedQuote,
    timing: MarketTiming,
    square_off_at: time,
) -> PlaceOutcome:
    if result.fill is None:  # resting (open, trigger_pending) or an IOC expired on arrival
        async with repository.unit_of_work() as work:
            placed = await work.add_order(values | {"status": result.status})
        return PlaceOutcome(placed, None, replayed=False)
    filling = Filling(result.fill, captured, timing.recorded_at, timing.instant, timing.mode,
                      timing.off_hours)  # fmt: skip
    async with (
        repository.unit_of_work() as work,
        funded(work, repository, values, filling) as funds,
    ):
        opened = position_values(values, filling, square_off_at) | funds.columns
        position, placed = await work.add_filled_position(  # the order takes the account's lock:
            opened,
            values | fill_of(filling),
            lock_account=funds.account,  # funds checked next
        )
        funds.opened(position)
    SNAPSHOTS.labels("entry", captured.source).inc()
    return PlaceOutcome(placed, position, replayed=False)


def filled_order(position: PositionRecord, filling: Filling) -> dict[str, Any]:
    """What an opening order becomes when it fills into `position`."""
    return fill_of(filling) | {"position_id": position.id, "lot_size": position.lot_size}


def fill_of(filling: Filling) -> dict[str, Any]:
    """An opening order's fill: complete, at the fill's price, when it was recorded."""
    return {"status": OrderStatus.COMPLETE, "average_price": filling.fill.price,
            "filled_at": filling.recorded_at}  # fmt: skip


def position_values(order: dict[str, Any], filling: Filling, square_off_at: time) -> dict[str, Any]:
    """The position an opening order fills into: its contract, size, model metadata and exits,
    the fill, and the entry snapshot captured from the very observation that filled it."""
    quote = filling.captured.quote
    lots = order["lots"]
    return {
        "underlying": order["underlying"], "expiry": order["expiry"], "strike": order["strike"],
        "option_type": order["option_type"], "side": order["side"],
        "lot_size": quote.lot_size, "lots": lots, "quantity_open": lots,
        "entry_price": filling.fill.price, "entry_price_source": filling.fill.source,
        "entry_spread": filling.fill.spread, "opened_at": filling.recorded_at,
        "ml_score": order["ml_score"], "model_version": order["model_version"],
        "model_hash": order["model_hash"], "features_snapshot": order["features_snapshot"],
        "mode": filling.mode, "off_hours": filling.off_hours, "product": order["product"],
        "account": order["account"],
        "tag": order.get("tag"),
        "stop_loss": order["stop_loss"], "target": order["target"],
        "trailing_stop": order["trailing_stop"], "exit_at": order["exit_at"],
        "trail_best": observation_of(quote).ltp if order["trailing_stop"] is not None else None,
        "square_off_at": square_off_instant(order["product"], filling.instant, square_off_at),
        "exits_evaluated_at": filling.instant,
        **captured_snapshot("entry_", filling.captured),
    }  # fmt: skip


def resolve_order(order: OrderRequest) -> tuple[OrderRequest, OptionSymbol, int]:
    """The order with its contract spelled out (from `symbol` if given) and its size in lots."""
    order = order.contract()
    assert order.underlying and order.expiry and order.strike and order.option_type
    contract = OptionSymbol(order.underlying, order.expiry, order.strike, order.option_type)
    lot_size = None
    if order.units is not None:
        spec = get_instruments().get(contract.underlying)
        if spec is None:
            known = ", ".join(get_instruments())
            raise InvalidInput("underlying", f"{contract.underlying} is not one of {known}")
        lot_size = spec.lot_size_for(contract.expiry)
    lots = order.given_lots(lot_size)
    if lots is None:
        raise InvalidInput("lots", "required: the number of lots (or `units`)")
    return order, contract, lots


async def _replay_order(
    repository: Repository,
    idempotency_key: str | None,
    client_order_id: str | None,
    fingerprint: str,
) -> PlaceOutcome | None:
    """The order an earlier request with this key or client_order_id placed, if any."""
    for field, column, value in (
        (IDEMPOTENCY_HEADER, "idempotency_key", idempotency_key),
        ("client_order_id", "client_order_id", client_order_id),
    ):
        if value is None:
            continue
        earlier = await repository.order_by(column, value)
        if earlier is None:
            continue
        if earlier.request_fingerprint != fingerprint:
            raise InvalidInput(
                field, f"{value!r} was already used for a different order (order {earlier.id})"
            )
        position = None
        if earlier.position_id is not None:
            position = await repository.position(earlier.position_id)
        return PlaceOutcome(earlier, position, replayed=True)
    return None


def check_not_expired(contract: OptionSymbol, instant: datetime) -> None:
    if expiry_close(contract.expiry) <= instant:
        raise InvalidInput(
            "expiry",
            f"{contract.expiry.isoformat()} expired at 15:30 IST, before {instant.isoformat()}",
        )


async def capture_contract(
    market_data: MarketDataClient, contract: OptionSymbol, instant: datetime
) -> CapturedQuote:
    request = QuoteRequest(
        contract.underlying, contract.expiry, contract.strike, contract.option_type, instant
    )
    try:
        return await market_data.acapture_quote(request)
    except QuoteRejected as exc:
        raise InvalidInput(exc.field, exc.detail) from exc
    except QuoteUnavailable as exc:
        raise UpstreamUnavailable(
            f"no market-data provider answered; nothing written: {exc}"
        ) from exc
