"""A close the client asks for: capture the exit (or settle an expired contract), then the one
close path (`order_service.application.closing.close_lots`).

A retry of a close that was done (its trade holds the key) replays it, whatever the position or
the market says now; at or after 15:30 IST on the expiry day, without an exit_price, the whole
position settles at intrinsic value against the index close instead, and the trade stores the
client's key so that a retry replays it too.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from optrade.clients.market_data import (
    MarketDataClient,
    MarketDataError,
    QuoteRejected,
    QuoteRequest,
)
from optrade.domain import ExitReason
from optrade.errors import Conflict, DomainError, InvalidInput, UpstreamUnavailable
from order_service.application.closing import (
    CloseKeys,
    CloseOutcome,
    ExitFill,
    check_closable,
    close_lots,
    replay_close,
)
from order_service.application.settling import expired, settle_position, settlement_value
from order_service.fills import (
    ClientPriceBounds,
    Fill,
    check_client_price,
    client_fill,
    closing_action,
    quote_fill,
)
from order_service.market_hours import MarketClock, MarketTiming
from order_service.records import PositionRecord
from order_service.repository import KeyTaken, Repository
from order_service.schemas import CloseRequest
from order_service.snapshots import captured_snapshot, missing_snapshot

log = logging.getLogger(__name__)


async def close_on_request(
    *,
    repository: Repository,
    market_data: MarketDataClient,
    position_id: int,
    close: CloseRequest,
    idempotency_key: str | None,
    clock: MarketClock,
    bounds: ClientPriceBounds,
    capture_enabled: bool = True,
) -> CloseOutcome:
    """Close all or part of a position as one trade, or replay an earlier identical close."""
    position = await repository.position(position_id)
    requested = close.given_lots(position.lot_size if close.units is not None else None)
    keys = CloseKeys(idempotency_key, close.fingerprint(requested))
    try:
        check_closable(position, requested)
        if close.exit_price is None and expired(position, clock.instant(close.as_of)):
            value = await settlement_value(market_data, position.underlying, position.expiry)
            return await settle_position(repository, position, value, clock.now, keys)
        timing = clock.timing(close.as_of)
        exit_snapshot, fill = await _capture_exit(
            market_data, position, close, timing.instant, capture_enabled, bounds
        )
        return await close_lots(
            repository,
            position=position,
            lots=requested,
            exit_=_client_exit(fill, close, timing),
            exit_snapshot=exit_snapshot,
            keys=keys,
        )
    except (DomainError, KeyTaken) as exc:
        earlier = await replay_close(repository, position.id, keys)
        if earlier is not None:
            return earlier
        if isinstance(exc, KeyTaken):
            raise Conflict(f"the close of position {position.id} conflicts; retry it") from exc
        raise


def _client_exit(fill: Fill, close: CloseRequest, timing: MarketTiming) -> ExitFill:
    return ExitFill(
        fill=fill,
        exit_reason=ExitReason.CLIENT,
        closed_at=timing.recorded_at,
        instant=timing.instant,
        mode=timing.mode,
        off_hours=timing.off_hours,
        reason=close.reason,
    )


async def _capture_exit(
    market_data: MarketDataClient,
    position: PositionRecord,
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
        check_client_price(
            close.exit_price, captured.quote, position.entry_price, bounds,
            closing=closing_action(position.side),  # never beyond the far side of the quote
        )  # fmt: skip
        fill = client_fill(close.exit_price, captured.quote)
    else:
        fill = quote_fill(captured.quote, closing_action(position.side))
    return captured_snapshot("exit_", captured), fill


def _exit_without_market_data(
    position: PositionRecord,
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
