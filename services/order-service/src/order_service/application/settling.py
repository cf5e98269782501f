"""Expiry settlement: open positions on an expired contract close at intrinsic value.

A run finds every position still open after its expiry's close (15:30 IST), asks market data
once per (underlying, expiry) for the settlement value (through the breakers and the fallback,
like a quote), and closes each position through the one close path with `exit_reason`
`settlement`. The order engine runs it at 15:30 IST, at start-up and whenever a position's
expiry has passed; a client close that finds its contract expired settles through it too.

Never twice: the trade's `close_idempotency_key` is `settlement <position id>` (or the client's
own key on a client close), and the lots are taken by the one conditional UPDATE, so two engines
running at once, or a run racing a client close, settle each lot at most once; the loser sees a
conflict and moves on.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from prometheus_client import Counter

from optrade.calendar import expiry_close
from optrade.clients.market_data import MarketDataClient, QuoteRejected, QuoteUnavailable
from optrade.domain import (
    EXPIRED,
    IST,
    ExitReason,
    OptionType,
    SnapshotSource,
    TradeMode,
    snapshot_columns,
)
from optrade.errors import Conflict
from optrade.schemas.market import ClosingLeg, SettlementValue
from order_service.application.closing import CloseKeys, CloseOutcome, ExitFill, close_lots
from order_service.domain.settlement import PAISA, expiry_delta, intrinsic
from order_service.fills import Fill
from order_service.records import PositionRecord
from order_service.repository import KeyTaken, Repository

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


def expired(position: PositionRecord, instant: datetime) -> bool:
    """Whether the position's contract expired (15:30 IST on its expiry day) by `instant`."""
    return expiry_close(position.expiry) <= instant


async def settle_expired(
    repository: Repository,
    market_data: MarketDataClient,
    *,
    now: datetime,
    expiry: date | None = None,
) -> SettlementRun:
    """Settle every open position whose expiry has passed by `now` (only `expiry`'s if given)."""
    run = SettlementRun()
    groups: dict[tuple[str, date], list[PositionRecord]] = defaultdict(list)
    for position in await repository.open_positions_expired_by(now.astimezone(IST).date(), expiry):
        if expired(position, now):
            groups[(position.underlying, position.expiry)].append(position)
    for (underlying, when), positions in sorted(groups.items()):
        try:
            value = await settlement_value(market_data, underlying, when)
        except Conflict as exc:
            log.warning("settlement of %s %s pending: %s", underlying, when, exc.detail)
            run.pending.append(
                {"underlying": underlying, "expiry": when, "positions": len(positions),
                 "reason": exc.detail}
            )  # fmt: skip
            SETTLED.labels("pending").inc(len(positions))
            continue
        for position in positions:
            done = await _settle_quietly(repository, position, value, now)
            if done is None:
                run.already_settled += 1
            else:
                run.settled.append(done)
    return run


async def settlement_value(
    market_data: MarketDataClient, underlying: str, expiry: date
) -> SettlementValue:
    """The value `expiry` settles against; Conflict naming why when it is not to be had yet."""
    try:
        value, _ = await market_data.afetch_settlement(underlying, expiry)
    except (QuoteRejected, QuoteUnavailable) as exc:
        reason = exc.detail if isinstance(exc, QuoteRejected) else str(exc)
        raise Conflict(
            f"{underlying} {expiry.isoformat()} expired at 15:30 IST and settles at its "
            f"settlement value, which is not available yet: {reason}"
        ) from exc
    return value


async def _settle_quietly(
    repository: Repository, position: PositionRecord, value: SettlementValue, now: datetime
) -> Settled | None:
    try:
        outcome = await settle_position(repository, position, value, now)
    except (Conflict, KeyTaken):
        SETTLED.labels("already_settled").inc()
        return None
    trade = outcome.trade
    return Settled(
        position.id, trade.id, position.underlying, position.expiry, trade.lots,
        Decimal(str(value.settlement_price)).quantize(PAISA), trade.exit_price, trade.pnl,
    )  # fmt: skip


async def settle_position(
    repository: Repository,
    position: PositionRecord,
    value: SettlementValue,
    now: datetime,
    keys: CloseKeys | None = None,
) -> CloseOutcome:
    """Close what is open of `position` at intrinsic value through the one close path; the
    trade's key is the client's (a client close after expiry) or `settlement <id>`."""
    close = Decimal(str(value.settlement_price)).quantize(PAISA)
    price = intrinsic(position.option_type, close, position.strike)
    closes_at = expiry_close(position.expiry)
    exit_ = ExitFill(
        fill=Fill(price, PRICE_SOURCE, None),
        exit_reason=ExitReason.SETTLEMENT,
        closed_at=closes_at,
        instant=closes_at,
        mode=TradeMode(position.mode),
        off_hours=False,
        reason=f"expiry settlement at intrinsic against the index close {close}",
        order_type=None,
    )
    keys = keys or CloseKeys(idempotency_key=f"{KEY_PREFIX}{position.id}")
    outcome = await close_lots(
        repository,
        position=position,
        lots=None,
        exit_=exit_,
        exit_snapshot=settlement_snapshot(position, value, close, now),
        keys=keys,
    )
    SETTLED.labels("settled").inc()
    return outcome


def _closing_leg(value: SettlementValue, position: PositionRecord) -> ClosingLeg | None:
    for row in value.strikes:
        if abs(Decimal(str(row.strike)) - position.strike) < PAISA:
            return row.ce if position.option_type == OptionType.CE else row.pe
    return None


def _money(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(str(value)).quantize(PAISA)


def settlement_snapshot(
    position: PositionRecord, value: SettlementValue, close: Decimal, now: datetime
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
