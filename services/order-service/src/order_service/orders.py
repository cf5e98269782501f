"""Open and close paper positions: capture the market first, then one short transaction.

No database transaction is ever open during a market-data call. Opening relies on the unique
constraints on `position.idempotency_key` / `client_order_id`: concurrent retries race to insert,
one wins, the others catch the IntegrityError and replay the winner. Closing takes its quantity
with one conditional UPDATE (`... WHERE quantity_open >= :lots`), which PostgreSQL row-locks and
SQLite serializes (BEGIN IMMEDIATE), so concurrent closes can never take more than is open.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from prometheus_client import Counter
from sqlalchemy import Engine, case, literal, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

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
from optrade.db.engine import session_scope
from optrade.db.models import Position, Trade, trade_from_position
from optrade.db.types import UTCDateTime
from optrade.domain import OptionType, PositionStatus, Side, TradeMode, utcnow
from optrade.errors import Conflict, InvalidInput, NotFound, UpstreamUnavailable
from optrade.instruments import get_instruments
from optrade.symbols import OptionSymbol
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
    position: Position
    replayed: bool  # True: an earlier request with this key opened it


@dataclass(frozen=True)
class CloseOutcome:
    trade: Trade
    position: Position  # after the close
    replayed: bool


def open_position(
    *,
    engine: Engine,
    market_data: MarketDataClient,
    order: OrderRequest,
    idempotency_key: str | None,
    timing: MarketTiming,
) -> OpenOutcome:
    """Open a paper position filled from the captured quote, or replay an earlier identical one."""
    instant = timing.instant
    order, contract, lots = resolve_order(order)
    fingerprint = order.fingerprint(lots)
    earlier = _replay_position(engine, idempotency_key, order.client_order_id, fingerprint)
    if earlier is not None:
        return OpenOutcome(earlier, replayed=True)
    _check_not_expired(contract, instant)
    captured = _capture_entry(market_data, contract, instant)
    if order.units is not None and order.units != lots * captured.quote.lot_size:
        raise InvalidInput(
            "units", f"not a multiple of the lot size {captured.quote.lot_size} of this contract"
        )
    fill = quote_fill(captured.quote, order.side)
    position = _new_position(
        order, contract, lots, captured, fill, timing, idempotency_key, fingerprint
    )
    try:
        with session_scope(engine) as session:
            session.add(position)
    except IntegrityError:
        # A concurrent request with the same key (or client_order_id) committed first.
        earlier = _replay_position(engine, idempotency_key, order.client_order_id, fingerprint)
        if earlier is None:
            raise
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


def _replay_position(
    engine: Engine, idempotency_key: str | None, client_order_id: str | None, fingerprint: str
) -> Position | None:
    """The position an earlier request with this key or client_order_id opened, if any."""
    if idempotency_key is None and client_order_id is None:
        return None
    with Session(engine) as session:
        for field, column, value in (
            (IDEMPOTENCY_HEADER, Position.idempotency_key, idempotency_key),
            ("client_order_id", Position.client_order_id, client_order_id),
        ):
            if value is None:
                continue
            earlier = session.exec(select(Position).where(column == value)).first()
            if earlier is None:
                continue
            if earlier.request_fingerprint != fingerprint:
                raise InvalidInput(
                    field,
                    f"{value!r} was already used for a different order (position {earlier.id})",
                )
            return earlier
    return None


def _check_not_expired(contract: OptionSymbol, instant: datetime) -> None:
    if expiry_close(contract.expiry) <= instant:
        raise InvalidInput(
            "expiry",
            f"{contract.expiry.isoformat()} expired at 15:30 IST, before {instant.isoformat()}",
        )


def _capture_entry(
    market_data: MarketDataClient, contract: OptionSymbol, instant: datetime
) -> CapturedQuote:
    request = QuoteRequest(
        contract.underlying, contract.expiry, contract.strike, contract.option_type, instant
    )
    try:
        return market_data.capture_quote(request)
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
    idempotency_key: str | None,
    fingerprint: str,
) -> Position:
    return Position(
        underlying=contract.underlying,
        expiry=contract.expiry,
        strike=contract.strike,
        option_type=OptionType(contract.option_type),
        side=order.side,
        lot_size=captured.quote.lot_size,
        lots=lots,
        quantity_open=lots,
        entry_price=fill.price,
        entry_price_source=fill.source,
        entry_spread=fill.spread,
        opened_at=timing.recorded_at,
        ml_score=order.ml_score,
        model_version=order.model_version,
        model_hash=order.model_hash,
        features_snapshot=order.features_snapshot,
        idempotency_key=idempotency_key,
        client_order_id=order.client_order_id,
        request_fingerprint=fingerprint,
        **timing.marks(),
        **captured_snapshot("entry_", captured),
    )


def close_position(
    *,
    engine: Engine,
    market_data: MarketDataClient,
    position_id: int,
    close: CloseRequest,
    idempotency_key: str | None,
    timing: MarketTiming,
    bounds: ClientPriceBounds,
    capture_enabled: bool = True,
) -> CloseOutcome:
    """Close all or part of a position as one trade, or replay an earlier identical close."""
    requested = _close_lots(engine, position_id, close)
    fingerprint = close.fingerprint(requested)
    earlier = _replay_close(engine, position_id, idempotency_key, fingerprint)
    if earlier is not None:
        return earlier
    try:
        return _close_now(
            engine, market_data, position_id, close, timing, bounds, capture_enabled,
            idempotency_key=idempotency_key, fingerprint=fingerprint, requested=requested,
        )  # fmt: skip
    except (IntegrityError, Conflict):
        # The same close key may have won concurrently: its trade (the unique key), or the lots
        # it took (409), mean this request is a retry of that close.
        earlier = _replay_close(engine, position_id, idempotency_key, fingerprint)
        if earlier is None:
            raise
        return earlier


def _close_lots(engine: Engine, position_id: int, close: CloseRequest) -> int | None:
    """The lots a close asks for (None: all that is open); `units` are read by the lot size."""
    if close.units is None:
        return close.given_lots(None)
    return close.given_lots(get_position(engine, position_id).lot_size)


def _close_now(
    engine: Engine,
    market_data: MarketDataClient,
    position_id: int,
    close: CloseRequest,
    timing: MarketTiming,
    bounds: ClientPriceBounds,
    capture_enabled: bool,
    *,
    idempotency_key: str | None,
    fingerprint: str,
    requested: int | None,
) -> CloseOutcome:
    instant = timing.instant
    position = get_position(engine, position_id)
    _check_closable(position, requested)
    if timing.recorded_at < position.opened_at:
        raise InvalidInput(
            "as_of", f"before the position opened ({position.opened_at.isoformat()})"
        )
    exit_snapshot, fill = _capture_exit(
        market_data, position, close, instant, capture_enabled, bounds
    )
    with session_scope(engine) as session:
        lots = _take_lots(session, position_id, requested, timing.recorded_at)
        position = session.exec(select(Position).where(Position.id == position_id)).one()
        trade = trade_from_position(
            position,
            lots=lots,
            exit_price=fill.price,
            exit_price_source=fill.source,
            exit_spread=fill.spread,
            **_outcome(position, fill.price, lots, timing),
            closed_at=timing.recorded_at,
            close_reason=close.reason,
            close_idempotency_key=idempotency_key,
            close_request_fingerprint=fingerprint,
            **_closing_marks(position, timing, exit_snapshot),
            **exit_snapshot,
        )
        session.add(trade)
        session.flush()  # a reused close key fails here, and the rollback returns the lots
    SNAPSHOTS.labels("exit", exit_snapshot["exit_source"]).inc()
    return CloseOutcome(trade, position, replayed=False)


def _outcome(
    position: Position, exit_price: Decimal, lots: int, timing: MarketTiming
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
    position: Position, timing: MarketTiming, exit_snapshot: dict[str, Any]
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


def _replay_close(
    engine: Engine, position_id: int, idempotency_key: str | None, fingerprint: str
) -> CloseOutcome | None:
    if idempotency_key is None:
        return None
    with Session(engine) as session:
        trade = session.exec(select(Trade).where(Trade.close_idempotency_key == idempotency_key))
        earlier = trade.first()
        if earlier is None:
            return None
        if earlier.position_id != position_id or earlier.close_request_fingerprint != fingerprint:
            raise InvalidInput(
                IDEMPOTENCY_HEADER,
                f"{idempotency_key!r} was already used for a different close "
                f"(trade {earlier.id} of position {earlier.position_id})",
            )
        position = session.get(Position, position_id)
    assert position is not None  # a trade's position is never deleted
    return CloseOutcome(earlier, position, replayed=True)


def get_position(engine: Engine, position_id: int) -> Position:
    with Session(engine) as session:
        position = session.get(Position, position_id)
    if position is None:
        raise NotFound(f"position {position_id} does not exist")
    return position


def _check_closable(position: Position, lots: int | None) -> None:
    if position.status != PositionStatus.OPEN or position.quantity_open == 0:
        raise Conflict(f"position {position.id} is already closed")
    if lots is not None and lots > position.quantity_open:
        raise Conflict(
            f"quantity: {lots} lots asked, position {position.id} has {position.quantity_open} open"
        )


def _capture_exit(
    market_data: MarketDataClient,
    position: Position,
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
        captured = market_data.capture_quote(request)
    except MarketDataError as exc:
        return _exit_without_market_data(position, close, instant, exc, bounds)
    if close.exit_price is not None:
        check_client_price(close.exit_price, captured.quote, position.entry_price, bounds)
        fill = client_fill(close.exit_price, captured.quote)
    else:
        fill = quote_fill(captured.quote, closing_action(position.side))
    return captured_snapshot("exit_", captured), fill


def _exit_without_market_data(
    position: Position,
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


def _take_lots(session: Session, position_id: int, lots: int | None, closed_at: datetime) -> int:
    """Take `lots` (default: all that is open) off the position in one conditional UPDATE."""
    if lots is None:
        open_lots = session.exec(
            select(Position.quantity_open).where(Position.id == position_id)
        ).one()
        lots = open_lots or 0
        if lots == 0:
            raise Conflict(f"position {position_id} is already closed")
    closes_all = col(Position.quantity_open) == lots
    result = session.exec(
        update(Position)
        .where(
            col(Position.id) == position_id,
            col(Position.status) == PositionStatus.OPEN,
            col(Position.quantity_open) >= lots,
        )
        .values(
            quantity_open=Position.quantity_open - lots,
            status=case((closes_all, PositionStatus.CLOSED.value), else_=Position.status),
            closed_at=case(
                (closes_all, literal(closed_at, UTCDateTime())), else_=Position.closed_at
            ),
            updated_at=utcnow(),
        )
    )
    if result.rowcount != 1:
        raise Conflict(
            f"quantity: {lots} lots are no longer open on position {position_id} "
            "(closed concurrently)"
        )
    return lots
