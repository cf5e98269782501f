"""Expiry settlement: open positions on an expired contract close at intrinsic value.

NSE index options are European and cash-settled at 15:30 IST on their expiry day, at intrinsic
value against the index's official close (the 15:00-15:30 weighted average). A run finds every
position still open after its expiry's close, asks market data once per (underlying, expiry) for
the settlement value, and closes each position as one trade with exit source `settlement`.

Never twice: the trade's `close_idempotency_key` is `settlement <position id>` (unique; the space
keeps it apart from every client key, which the Idempotency-Key header pattern forbids), and the
lots are taken by the same conditional UPDATE as a close, so two workers running at once, or a
run racing a manual close, settle each lot at most once; the loser sees a conflict and moves on.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from prometheus_client import Counter
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from optrade.calendar import expiry_close
from optrade.clients.market_data import MarketDataClient, QuoteRejected, QuoteUnavailable
from optrade.db.engine import session_scope
from optrade.db.models import Position, Trade, trade_from_position
from optrade.domain import (
    EXPIRED,
    IST,
    OptionType,
    PositionStatus,
    SnapshotSource,
    snapshot_columns,
    utcnow,
)
from optrade.errors import Conflict
from optrade.schemas.market import ClosingLeg, SettlementValue
from order_service.fills import PAISA, pnl
from order_service.queries import get_position
from order_service.store import take_lots

log = logging.getLogger(__name__)

SETTLED = Counter("order_settlements_total", "Positions settled at expiry, by outcome", ["outcome"])
KEY_PREFIX = "settlement "
PRICE_SOURCE = "settlement"


@dataclass(frozen=True)
class Settled:
    position_id: int
    trade_id: int
    underlying: str
    expiry: date
    lots: int
    settlement_price: Decimal  # the index close, points
    exit_price: Decimal  # intrinsic value, rupees
    pnl: Decimal


@dataclass
class SettlementRun:
    settled: list[Settled] = field(default_factory=list)
    pending: list[dict[str, Any]] = field(default_factory=list)  # expiries without a value yet
    already_settled: int = 0  # positions another run (or a close) took first


def intrinsic(option_type: str, index_close: Decimal, strike: Decimal) -> Decimal:
    """Cash-settlement value of one unit: max(S - K, 0) for a call, max(K - S, 0) for a put."""
    value = index_close - strike if option_type == OptionType.CE else strike - index_close
    return max(value, Decimal(0)).quantize(PAISA)


def expiry_delta(option_type: str, index_close: Decimal, strike: Decimal) -> float:
    """The option's delta at expiry: 1 (call) or -1 (put) in the money, else 0."""
    if option_type == OptionType.CE:
        return 1.0 if index_close > strike else 0.0
    return -1.0 if index_close < strike else 0.0


def due_positions(engine: Engine, now: datetime, expiry: date | None = None) -> list[Position]:
    """Open positions whose expiry closed (15:30 IST) at or before `now`, oldest first."""
    query = select(Position).where(
        col(Position.status) == PositionStatus.OPEN,
        col(Position.expiry) <= now.astimezone(IST).date(),
    )
    if expiry is not None:
        query = query.where(col(Position.expiry) == expiry)
    with Session(engine) as session:
        positions = session.exec(query.order_by(col(Position.id))).all()
    return [p for p in positions if expiry_close(p.expiry) <= now]


def run_settlement(
    engine: Engine, market_data: MarketDataClient, *, now: datetime, expiry: date | None = None
) -> SettlementRun:
    """Settle every open position whose expiry has passed (only `expiry`'s when given)."""
    run = SettlementRun()
    groups: dict[tuple[str, date], list[Position]] = defaultdict(list)
    for position in due_positions(engine, now, expiry):
        groups[(position.underlying, position.expiry)].append(position)
    for (underlying, when), positions in sorted(groups.items()):
        try:
            value, _ = market_data.fetch_settlement(underlying, when)
        except (QuoteRejected, QuoteUnavailable) as exc:
            reason = exc.detail if isinstance(exc, QuoteRejected) else str(exc)
            log.warning("settlement of %s %s pending: %s", underlying, when, reason)
            run.pending.append(
                {"underlying": underlying, "expiry": when, "positions": len(positions),
                 "reason": reason}
            )  # fmt: skip
            SETTLED.labels("pending").inc(len(positions))
            continue
        for position in positions:
            done = settle_position(engine, position, value, now)
            if done is None:
                run.already_settled += 1
            else:
                run.settled.append(done)
    return run


def settle_position(
    engine: Engine, position: Position, value: SettlementValue, now: datetime
) -> Settled | None:
    """Close what is open of `position` at intrinsic value; None when already taken."""
    assert position.id is not None
    close = Decimal(str(value.settlement_price)).quantize(PAISA)
    price = intrinsic(position.option_type, close, position.strike)
    snapshot = settlement_snapshot(position, value, close, now)
    try:
        with session_scope(engine) as session:
            lots = take_lots(session, position.id, None, expiry_close(position.expiry))
            current = session.exec(select(Position).where(Position.id == position.id)).one()
            trade = trade_from_position(
                current,
                lots=lots,
                exit_price=price,
                exit_price_source=PRICE_SOURCE,
                exit_spread=None,
                pnl=pnl(
                    side=current.side,
                    entry=current.entry_price,
                    exit_=price,
                    lots=lots,
                    lot_size=current.lot_size,
                ),  # fmt: skip
                closed_at=expiry_close(position.expiry),
                close_reason=f"expiry settlement at intrinsic against the index close {close}",
                close_idempotency_key=f"{KEY_PREFIX}{position.id}",
                **snapshot,
            )
            session.add(trade)
            session.flush()  # a second settlement of this position fails here (unique key)
    except (Conflict, IntegrityError):
        SETTLED.labels("already_settled").inc()
        return None
    SETTLED.labels("settled").inc()
    assert trade.id is not None
    return Settled(
        position.id, trade.id, position.underlying, position.expiry, lots, close, price, trade.pnl
    )


def _closing_leg(value: SettlementValue, position: Position) -> ClosingLeg | None:
    for row in value.strikes:
        if abs(Decimal(str(row.strike)) - position.strike) < PAISA:
            return row.ce if position.option_type == OptionType.CE else row.pe
    return None


def _money(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(str(value)).quantize(PAISA)


def settlement_snapshot(
    position: Position, value: SettlementValue, close: Decimal, now: datetime
) -> dict[str, Any]:
    """The exit snapshot at expiry: Greeks defined there, IV undefined (`expired`), the option's
    last quote of the day, and spot (the index close), VIX and PCR at the close."""
    leg = _closing_leg(value, position) or ClosingLeg()
    blank = dict.fromkeys(snapshot_columns("exit_"))  # a field added later stays null here
    return blank | {
        "exit_delta": expiry_delta(position.option_type, close, position.strike),
        "exit_gamma": 0.0,
        "exit_theta": 0.0,
        "exit_vega": 0.0,
        "exit_iv": None,
        "exit_forward": float(close),  # at expiry the forward is the index itself
        "exit_t_years": 0.0,
        "exit_ltp": _money(leg.ltp),
        "exit_bid": _money(leg.bid),
        "exit_ask": _money(leg.ask),
        "exit_oi": leg.oi,
        "exit_volume": leg.volume,
        "exit_spot": close,
        "exit_vix": value.vix,
        "exit_pcr": value.pcr,
        "exit_market_at": value.as_of,
        "exit_source": SnapshotSource.SETTLEMENT.value,
        "exit_error": EXPIRED,
        "exit_captured_at": now,
    }


def settlement_trade(engine: Engine, position_id: int) -> Trade | None:
    """The settlement trade of a position, if it was settled."""
    with Session(engine) as session:
        key = f"{KEY_PREFIX}{position_id}"
        return session.exec(select(Trade).where(Trade.close_idempotency_key == key)).first()


def settle_on_close(
    engine: Engine, market_data: MarketDataClient, position_id: int, instant: datetime
) -> tuple[Trade, Position] | None:
    """A close asked at or after the position's expiry settles it; None when not expired.

    The contract no longer trades then: the only exit is its settlement value (a 15:30 quote
    would fill at the bid, below what the holder is paid).
    """
    position = get_position(engine, position_id)
    if position.status != PositionStatus.OPEN or expiry_close(position.expiry) > instant:
        return None
    try:
        value, _ = market_data.fetch_settlement(position.underlying, position.expiry)
    except (QuoteRejected, QuoteUnavailable) as exc:
        reason = exc.detail if isinstance(exc, QuoteRejected) else str(exc)
        raise Conflict(
            f"position {position_id} expired at 15:30 IST on {position.expiry.isoformat()} and "
            f"settles at its settlement value, which is not available yet: {reason}"
        ) from exc
    settle_position(engine, position, value, utcnow())
    trade = settlement_trade(engine, position_id)
    if trade is None:  # closed by a concurrent request in between
        raise Conflict(f"position {position_id} is already closed")
    return trade, get_position(engine, position_id)
