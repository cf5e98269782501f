"""Mark every open position to market (issue 22): the mid of its contract's bid and ask, the LTP
where a side is empty, with the quote's IV, spot, forward and Greeks, stored on the position.

One quote per contract (positions on the same contract share it), asked at `now` through the
market-data client (breakers and fallback, as a fill); the marks of all contracts are computed at
once (`order_service.domain.mark_to_market.marks_of`) and stored in one statement. A contract
without a quote, or whose expiry has passed, keeps its last mark: the account page reads the
stored marks, never the market.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from optrade.calendar import expiry_close
from optrade.clients.market_data import (
    CapturedChain,
    MarketDataClient,
    MarketDataError,
    QuoteRejected,
    QuoteRequest,
)
from optrade.domain import TradeMode
from optrade.schemas.market import OptionQuote
from order_service.domain.mark_to_market import marks_of
from order_service.records import PositionRecord
from order_service.repository import Repository

log = logging.getLogger(__name__)
PAISA = Decimal("0.01")
CONCURRENT_QUOTES = 8

Contract = tuple[str, date, Decimal, str]


@dataclass(frozen=True)
class MarkRun:
    marked: int  # positions given a new mark
    unquoted: int  # contracts without a usable quote (their positions keep their last mark)


def _contract(position: PositionRecord) -> Contract:
    return (position.underlying, position.expiry, position.strike, str(position.option_type))


async def _quotes(
    market_data: MarketDataClient, contracts: list[Contract], now: datetime
) -> dict[Contract, OptionQuote]:
    gate = asyncio.Semaphore(CONCURRENT_QUOTES)

    async def one(contract: Contract) -> tuple[Contract, OptionQuote | None]:
        async with gate:
            try:
                captured = await market_data.acapture_quote(QuoteRequest(*contract, now))
            except MarketDataError as exc:
                log.debug("no mark for %s at %s: %s", contract, now.isoformat(), exc)
                return contract, None
        return contract, captured.quote

    answers = await asyncio.gather(*(one(c) for c in contracts))
    return {contract: quote for contract, quote in answers if quote is not None}


def mark_rows(
    positions: list[PositionRecord], quotes: dict[Contract, OptionQuote], marked_at: datetime
) -> list[dict[str, Any]]:
    """The stored mark of each position whose contract has a quote with a price."""
    held = [(p, quotes[_contract(p)]) for p in positions if _contract(p) in quotes]
    if not held:
        return []
    marks = marks_of(
        [q.bid or 0.0 for _, q in held], [q.ask or 0.0 for _, q in held],
        [q.ltp or 0.0 for _, q in held],
    )  # fmt: skip
    rows = []
    for (position, quote), mark in zip(held, marks, strict=True):
        if math.isnan(mark):  # no bid/ask and no LTP
            continue
        rows.append(
            {
                "p_id": position.id,
                "p_price": Decimal(repr(float(mark))).quantize(PAISA, rounding=ROUND_HALF_UP),
                "p_at": marked_at,
                "p_iv": quote.iv,
                "p_spot": Decimal(repr(quote.spot)).quantize(PAISA, rounding=ROUND_HALF_UP),
                "p_forward": quote.forward,
                "p_delta": quote.delta,
                "p_gamma": quote.gamma,
                "p_theta": quote.theta,
                "p_vega": quote.vega,
            }
        )
    return rows


async def mark_open_positions(
    repository: Repository, market_data: MarketDataClient, now: datetime
) -> MarkRun:
    """Mark every open live position (of every account) at `now`; a replay position is marked
    by the replay walk, at the instants it walks."""
    positions = [
        p for p in await repository.open_positions()
        if expiry_close(p.expiry) > now and p.mode == TradeMode.LIVE.value
    ]  # fmt: skip
    by_contract: dict[Contract, list[PositionRecord]] = defaultdict(list)
    for position in positions:
        by_contract[_contract(position)].append(position)
    quotes = await _quotes(market_data, sorted(by_contract), now)
    rows = mark_rows(positions, quotes, now)
    await repository.store_marks(rows)
    return MarkRun(marked=len(rows), unquoted=len(by_contract) - len(quotes))


async def mark_from_chain(repository: Repository, captured: CapturedChain, mode: TradeMode) -> int:
    """Mark the open positions of `mode` on this chain's (underlying, expiry) at the chain's
    instant (the replay walk marks at each snapshot it evaluates); how many were marked."""
    chain = captured.chain
    positions = [
        p for p in await repository.open_positions()
        if p.mode == mode.value and p.underlying == chain.underlying and p.expiry == chain.expiry
    ]  # fmt: skip
    quotes: dict[Contract, OptionQuote] = {}
    for position in positions:
        try:
            quotes[_contract(position)] = captured.quote(
                position.strike, position.option_type
            ).quote
        except QuoteRejected:
            continue
    rows = mark_rows(positions, quotes, chain.as_of)
    await repository.store_marks(rows)
    return len(rows)
