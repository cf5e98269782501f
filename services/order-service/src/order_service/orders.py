"""Open and close paper positions: capture the market first, then one short transaction.

Async end to end: the quote over each provider's pooled async GET (aiohttp), the rows through the
async engine with Core statements (`order_service.store`), so a request never waits for a worker
thread and no database transaction is open during a market-data call.

Idempotency costs nothing on the happy path. Opening inserts with `ON CONFLICT DO NOTHING`; no row
back means the key (or client_order_id) is taken, and the winner is read once and replayed (or
refused as a reuse for a different order). A close's trade is inserted the same way inside its
transaction; a taken close key rolls the lots back and replays the earlier close. When a request
with a key cannot be carried out now (the position is closed, market data is down, the contract
expired), the earlier outcome under that key, if there is one, is replayed instead of the error.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from prometheus_client import Counter
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncEngine

from optrade.calendar import expiry_close, ist_date
from optrade.charges import NoChargeSchedule, round_trip_charges
from optrade.clients.market_data import (
    CapturedQuote,
    MarketDataClient,
    MarketDataError,
    QuoteRejected,
    QuoteRequest,
    QuoteUnavailable,
)
from optrade.domain import PositionStatus, Side, TradeMode
from optrade.errors import Conflict, DomainError, InvalidInput, UpstreamUnavailable
from optrade.instruments import get_instruments
from optrade.symbols import OptionSymbol
from order_service import store
from order_service.fills import (
    ClientPriceBounds,
    Fill,
    check_client_price,
    client_fill,
    closing_action,
    pnl,
    quote_fill,
)
from order_service.market_hours import MarketTiming, session_seconds_between
from order_service.schemas import CloseRequest, OrderRequest
from order_service.snapshots import captured_snapshot, missing_snapshot

log = logging.getLogger(__name__)

SNAPSHOTS = Counter(
    "order_snapshots_total", "Entry/exit snapshots recorded, by source", ["stage", "source"]
)
IDEMPOTENCY_HEADER = "Idempotency-Key"


@dataclass(frozen=True)
class OpenOutcome:
    position: Row[Any]
    replayed: bool  # True: an earlier request with this key opened it


@dataclass(frozen=True)
class CloseOutcome:
    trade: Row[Any]
    position: Mapping[str, Any]  # its columns after the close
    replayed: bool


async def open_position(
    *,
    engine: AsyncEngine,
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
    except DomainError:
        # A retry of an order that was placed replays it, whatever the market says now.
        earlier = await _replay_position(
            engine, idempotency_key, order.client_order_id, fingerprint
        )
        if earlier is None:
            raise
        return OpenOutcome(earlier, replayed=True)
    values = _new_position(order, contract, lots, captured, fill, timing)
    values |= {
        "idempotency_key": idempotency_key,
        "client_order_id": order.client_order_id,
        "request_fingerprint": fingerprint,
    }
    position = await store.insert_position(engine, values)
    if position is None:  # the key or client_order_id is taken: replay (or refuse) the winner
        earlier = await _replay_position(
            engine, idempotency_key, order.client_order_id, fingerprint
        )
        if earlier is None:
            raise Conflict("the position conflicts with a stored one; retry the request")
        return OpenOutcome(earlier, replayed=True)
    SNAPSHOTS.labels("entry", captured.source).inc()
    return OpenOutcome(position, replayed=False)


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


async def _replay_position(
    engine: AsyncEngine, idempotency_key: str | None, client_order_id: str | None, fingerprint: str
) -> Row[Any] | None:
    """The position an earlier request with this key or client_order_id opened, if any."""
    for field, column, value in (
        (IDEMPOTENCY_HEADER, "idempotency_key", idempotency_key),
        ("client_order_id", "client_order_id", client_order_id),
    ):
        if value is None:
            continue
        earlier = await store.position_by(engine, column, value)
        if earlier is None:
            continue
        if earlier.request_fingerprint != fingerprint:
            raise InvalidInput(
                field, f"{value!r} was already used for a different order (position {earlier.id})"
            )
        return earlier
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


async def close_position(
    *,
    engine: AsyncEngine,
    market_data: MarketDataClient,
    position: Row[Any],
    close: CloseRequest,
    idempotency_key: str | None,
    timing: MarketTiming,
    bounds: ClientPriceBounds,
    capture_enabled: bool = True,
) -> CloseOutcome:
    """Close all or part of `position` (as read for this request) as one trade, or replay an
    earlier identical close."""
    requested = close.given_lots(position.lot_size if close.units is not None else None)
    fingerprint = close.fingerprint(requested)
    try:
        _check_closable(position, requested)
        if timing.recorded_at < position.opened_at:
            raise InvalidInput(
                "as_of", f"before the position opened ({position.opened_at.isoformat()})"
            )
        exit_snapshot, fill = await _capture_exit(
            market_data, position, close, timing.instant, capture_enabled, bounds
        )

        def closing(lots: int) -> dict[str, Any]:
            return {
                "exit_price": fill.price,
                "exit_price_source": fill.source,
                "exit_spread": fill.spread,
                **_outcome(position, fill.price, lots, timing),
                "closed_at": timing.recorded_at,
                "close_reason": close.reason,
                "close_idempotency_key": idempotency_key,
                "close_request_fingerprint": fingerprint,
                **_closing_marks(position, timing, exit_snapshot),
                **exit_snapshot,
            }

        trade, after = await store.record_close(
            engine, position, requested, timing.recorded_at, closing
        )
    except (DomainError, store.CloseKeyTaken) as exc:
        # A retry of a close that was done (its trade holds the key) replays it.
        earlier = await _replay_close(engine, position.id, idempotency_key, fingerprint)
        if earlier is not None:
            return earlier
        if isinstance(exc, store.CloseKeyTaken):
            raise Conflict(f"the close of position {position.id} conflicts; retry it") from exc
        raise
    SNAPSHOTS.labels("exit", exit_snapshot["exit_source"]).inc()
    return CloseOutcome(trade, after, replayed=False)


def _outcome(
    position: Row[Any], exit_price: Decimal, lots: int, timing: MarketTiming
) -> dict[str, Any]:
    """P&L of closing `lots` at `exit_price`, the charges of the round trip, and net P&L."""
    gross = pnl(
        side=position.side,
        entry=position.entry_price,
        exit_=exit_price,
        lots=lots,
        lot_size=position.lot_size,
    )
    try:
        charges = round_trip_charges(
            side=Side(position.side),
            entry_price=position.entry_price,
            exit_price=exit_price,
            lots=lots,
            lots_opened=position.lots,
            lot_size=position.lot_size,
            entry_day=ist_date(position.entry_market_at or position.opened_at),
            exit_day=ist_date(timing.instant),
        )
    except NoChargeSchedule:  # a replay older than the rate table: unknown, never zero
        return {"pnl": gross, "charges": None, "net_pnl": None}
    return {"pnl": gross, "charges": charges, "net_pnl": gross - charges}


def _closing_marks(
    position: Row[Any], timing: MarketTiming, exit_snapshot: dict[str, Any]
) -> dict[str, Any]:
    """Mode and off-hours of a trade (either side replayed or off-hours marks it), and the
    market time it was held: trading-session seconds between the two snapshots' instants."""
    replay = TradeMode.REPLAY in (position.mode, timing.mode)
    entered = position.entry_market_at or position.opened_at
    exited = exit_snapshot.get("exit_market_at") or timing.instant
    return {
        "mode": (TradeMode.REPLAY if replay else TradeMode.LIVE).value,
        "off_hours": position.off_hours or timing.off_hours,
        "market_seconds_held": session_seconds_between(entered, exited),
    }


async def _replay_close(
    engine: AsyncEngine, position_id: int, idempotency_key: str | None, fingerprint: str
) -> CloseOutcome | None:
    if idempotency_key is None:
        return None
    earlier = await store.trade_by_close_key(engine, idempotency_key)
    if earlier is None:
        return None
    if earlier.position_id != position_id or earlier.close_request_fingerprint != fingerprint:
        raise InvalidInput(
            IDEMPOTENCY_HEADER,
            f"{idempotency_key!r} was already used for a different close "
            f"(trade {earlier.id} of position {earlier.position_id})",
        )
    position = await store.read_position(engine, position_id)
    return CloseOutcome(earlier, dict(position._mapping), replayed=True)


def _check_closable(position: Row[Any], lots: int | None) -> None:
    if position.status != PositionStatus.OPEN or position.quantity_open == 0:
        raise Conflict(f"position {position.id} is already closed")
    if lots is not None and lots > position.quantity_open:
        raise Conflict(
            f"quantity: {lots} lots asked, position {position.id} has {position.quantity_open} open"
        )


async def _capture_exit(
    market_data: MarketDataClient,
    position: Row[Any],
    close: CloseRequest,
    instant: datetime,
    capture_enabled: bool,
    bounds: ClientPriceBounds,
) -> tuple[dict[str, Any], Fill]:
    """The exit snapshot and the fill: the client's price if given (bounded by the captured
    quote, or by sanity when there is none), else the quote's side."""
    if not capture_enabled:
        if close.exit_price is None:
            raise InvalidInput("exit_price", "required: market-data capture is disabled here")
        check_client_price(close.exit_price, None, position.entry_price, bounds)
        snapshot = missing_snapshot("exit_", "capture disabled", market_at=instant)
        return snapshot, client_fill(close.exit_price, None)
    request = QuoteRequest(
        position.underlying, position.expiry, position.strike, position.option_type, instant
    )
    try:
        captured = await market_data.acapture_quote(request)
    except MarketDataError as exc:
        return _exit_without_market_data(position, close, instant, exc, bounds)
    if close.exit_price is not None:
        check_client_price(close.exit_price, captured.quote, position.entry_price, bounds)
        fill = client_fill(close.exit_price, captured.quote)
    else:
        fill = quote_fill(captured.quote, closing_action(position.side))
    return captured_snapshot("exit_", captured), fill


def _exit_without_market_data(
    position: Row[Any],
    close: CloseRequest,
    instant: datetime,
    exc: MarketDataError,
    bounds: ClientPriceBounds,
) -> tuple[dict[str, Any], Fill]:
    if isinstance(exc, QuoteRejected):
        reason = f"market data has no quote for this option: {exc.detail}"
        error: Exception = Conflict(f"{reason}; send exit_price to close at your price")
    else:
        reason = f"no market-data provider answered: {exc}"
        error = UpstreamUnavailable(f"{reason}; position {position.id} left open")
    if close.exit_price is None:
        raise error from exc
    check_client_price(close.exit_price, None, position.entry_price, bounds)
    log.warning(
        "closing position %s at the client's exit_price without an exit snapshot: %s",
        position.id,
        reason,
    )
    return missing_snapshot("exit_", reason, market_at=instant), client_fill(close.exit_price, None)
