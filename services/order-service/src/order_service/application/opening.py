"""Place an order: capture the market first, then one short unit of work.

A MARKET order fills at once at the captured quote (BUY at the ask, SELL at the bid, the LTP
where that side is empty): one transaction inserts the position and the order that opened it.
No transaction is open during the market-data call.

Idempotency costs nothing on the happy path: the order row holds the client's
`Idempotency-Key` and `client_order_id` (unique), inserted with `ON CONFLICT DO NOTHING`; no row
back means the key is taken, the unit of work rolls back (no position is left), and the winner is
read once and replayed (or refused as a reuse for a different order). When a request with a key
cannot be carried out now (market data is down, the contract expired), the earlier outcome under
that key, if there is one, is replayed instead of the error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from optrade.calendar import expiry_close
from optrade.clients.market_data import (
    CapturedQuote,
    MarketDataClient,
    QuoteRejected,
    QuoteRequest,
    QuoteUnavailable,
)
from optrade.domain import OrderIntent, OrderStatus, OrderType
from optrade.errors import Conflict, DomainError, InvalidInput, UpstreamUnavailable
from optrade.instruments import get_instruments
from optrade.symbols import OptionSymbol
from order_service.application.closing import IDEMPOTENCY_HEADER, SNAPSHOTS
from order_service.application.funds import require_funds
from order_service.fills import Fill, quote_fill
from order_service.market_hours import MarketTiming
from order_service.records import OrderRecord, PositionRecord
from order_service.repository import KeyTaken, Repository
from order_service.schemas import OrderRequest
from order_service.snapshots import captured_snapshot


@dataclass(frozen=True)
class OpenOutcome:
    order: OrderRecord
    position: PositionRecord
    replayed: bool  # True: an earlier request with this key placed it


async def open_position(
    *,
    repository: Repository,
    market_data: MarketDataClient,
    order: OrderRequest,
    idempotency_key: str | None,
    timing: MarketTiming,
) -> OpenOutcome:
    """Open a paper position filled from the captured quote, or replay an earlier identical one."""
    order, contract, lots = resolve_order(order)
    fingerprint = order.fingerprint(lots)
    try:
        _check_not_expired(contract, timing.instant)
        captured = await _capture_entry(market_data, contract, timing.instant)
        if order.units is not None and order.units != lots * captured.quote.lot_size:
            raise InvalidInput(
                "units",
                f"not a multiple of the lot size {captured.quote.lot_size} of this contract",
            )
        fill = quote_fill(captured.quote, order.side)
        funds = await require_funds(  # issue 22: 422 insufficient-funds, nothing written
            repository, account=order.account, side=order.side, lots=lots, captured=captured,
            fill=fill, instant=timing.instant,
        )  # fmt: skip
    except DomainError:
        # A retry of an order that was placed replays it, whatever the market says now.
        earlier = await _replay_order(
            repository, idempotency_key, order.client_order_id, fingerprint
        )
        if earlier is None:
            raise
        return earlier
    try:
        async with repository.unit_of_work() as work:
            position = await work.add_position(
                _new_position(order, contract, lots, captured, fill, timing) | funds.columns
            )
            placed = await work.add_order(
                _filled_order(order, position, fingerprint, idempotency_key, timing)
                | {"account": order.account}
            )
    except KeyTaken:  # the key or client_order_id is taken: replay (or refuse) the winner
        earlier = await _replay_order(
            repository, idempotency_key, order.client_order_id, fingerprint
        )
        if earlier is None:
            raise Conflict("the order conflicts with a stored one; retry the request") from None
        return earlier
    SNAPSHOTS.labels("entry", captured.source).inc()
    return OpenOutcome(placed, position, replayed=False)


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
) -> OpenOutcome | None:
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
        assert earlier.position_id is not None  # a MARKET opening order fills or is not stored
        return OpenOutcome(earlier, await repository.position(earlier.position_id), replayed=True)
    return None


def _check_not_expired(contract: OptionSymbol, instant: datetime) -> None:
    if expiry_close(contract.expiry) <= instant:
        raise InvalidInput(
            "expiry",
            f"{contract.expiry.isoformat()} expired at 15:30 IST, before {instant.isoformat()}",
        )


async def _capture_entry(
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
            f"no market-data provider answered; nothing opened: {exc}"
        ) from exc


def _new_position(
    order: OrderRequest,
    contract: OptionSymbol,
    lots: int,
    captured: CapturedQuote,
    fill: Fill,
    timing: MarketTiming,
) -> dict[str, Any]:
    return {
        "underlying": contract.underlying,
        "expiry": contract.expiry,
        "strike": contract.strike,
        "option_type": contract.option_type,
        "side": order.side,
        "lot_size": captured.quote.lot_size,
        "lots": lots,
        "quantity_open": lots,
        "entry_price": fill.price,
        "entry_price_source": fill.source,
        "entry_spread": fill.spread,
        "opened_at": timing.recorded_at,
        "ml_score": order.ml_score,
        "model_version": order.model_version,
        "model_hash": order.model_hash,
        "features_snapshot": order.features_snapshot,
        **timing.marks(),
        **captured_snapshot("entry_", captured),
    }


def _filled_order(
    order: OrderRequest,
    position: PositionRecord,
    fingerprint: str,
    idempotency_key: str | None,
    timing: MarketTiming,
) -> dict[str, Any]:
    """The order row of a MARKET order filled at once into `position`."""
    return {
        "intent": OrderIntent.OPEN,
        "order_type": OrderType.MARKET,
        "underlying": position.underlying,
        "expiry": position.expiry,
        "strike": position.strike,
        "option_type": position.option_type,
        "side": position.side,
        "lots": position.lots,
        "lot_size": position.lot_size,
        "status": OrderStatus.COMPLETE,
        "average_price": position.entry_price,
        "filled_at": timing.recorded_at,
        "position_id": position.id,
        "idempotency_key": idempotency_key,
        "client_order_id": order.client_order_id,
        "request_fingerprint": fingerprint,
        "mode": timing.mode,
    }
