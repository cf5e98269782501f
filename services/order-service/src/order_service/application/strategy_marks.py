"""A strategy as it stands: its legs, realized P&L from their trades and, while legs are open,
mark-to-market P&L at the mids of one chain observation (now, or `as_of`) and net Greeks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from optrade.clients.market_data import CapturedChain, MarketDataClient, QuoteRejected
from optrade.domain import PositionStatus, Side
from optrade.errors import DomainError
from order_service.application.placing import observation_of
from order_service.application.strategies import StrategyView, fetch_chain
from order_service.domain.strategy_exits import leg_mark
from order_service.records import PositionRecord
from order_service.repository import Repository

GREEKS = ("delta", "gamma", "theta", "vega")


@dataclass(frozen=True)
class LegMark:
    mark: Decimal | None
    unrealized_pnl: Decimal | None


@dataclass
class Marks:
    """The open legs marked on one observation (or why they are not)."""

    at: datetime | None = None
    legs: dict[int, LegMark] = field(default_factory=dict)  # by position id
    unrealized_pnl: Decimal | None = None
    greeks: dict[str, float | None] = field(default_factory=dict)
    error: str | None = None


async def get_strategy(repository: Repository, strategy_id: int) -> StrategyView:
    """One strategy with its legs and their trades; NotFound naming the id."""
    strategy = await repository.strategy(strategy_id)
    positions, trades = await repository.strategy_legs(strategy_id)
    return StrategyView(strategy, positions, trades)


async def mark_strategy(
    market_data: MarketDataClient, view: StrategyView, instant: datetime
) -> Marks:
    """Mark the open legs at the mids of one chain at `instant`; nothing to mark when flat."""
    open_legs = [p for p in view.positions if p.status == PositionStatus.OPEN]
    if not open_legs:
        return Marks(unrealized_pnl=Decimal("0.00"))
    strategy = view.strategy
    try:
        captured = await fetch_chain(market_data, strategy.underlying, strategy.expiry, instant)
    except DomainError as exc:
        return Marks(error=str(exc))
    return marks_on(captured, open_legs)


def marks_on(captured: CapturedChain, open_legs: list[PositionRecord]) -> Marks:
    marks = Marks(at=captured.chain.as_of)
    total: Decimal | None = Decimal(0)
    greeks: dict[str, float | None] = dict.fromkeys(GREEKS, 0.0)
    for position in open_legs:
        signed = position.quantity_open * position.lot_size * Side(position.side).sign
        try:
            quote = captured.quote(position.strike, position.option_type).quote
        except QuoteRejected:
            marks.legs[position.id] = LegMark(None, None)
            total, greeks = None, dict.fromkeys(GREEKS)
            continue
        mark = leg_mark(observation_of(quote))
        pnl = None if mark is None else (mark - position.entry_price) * signed
        marks.legs[position.id] = LegMark(mark, None if pnl is None else pnl.quantize(CENTS))
        total = None if total is None or pnl is None else total + pnl
        for name in GREEKS:
            value, held = getattr(quote, name), greeks[name]
            greeks[name] = None if value is None or held is None else held + value * signed
    marks.unrealized_pnl = None if total is None else total.quantize(CENTS)
    marks.greeks = greeks
    if total is None:
        marks.error = "a leg has no quote on this observation"
    return marks


CENTS = Decimal("0.01")
