"""Walking the market: the live engine's poll and the replay walk `POST /v1/engine/advance`.

Live: each poll fetches, per (underlying, expiry) with pending live work, one chain at now (one
request through the market-data fallback and breakers) and evaluates it; when both market-data
instances are down nothing fills and nothing is lost (the work waits for the next poll).
Replay walks only when asked: from where each pending item last stopped up to `until`, every
recorded observation of every contract with pending replay work is evaluated in time order;
DAY orders expire at their session's close and expired contracts settle, as they would live.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time

from optrade.clients.market_data import MarketDataClient, MarketDataError
from optrade.domain import TradeMode
from order_service.application.settling import SettlementRun, settle_expired
from order_service.application.venue import Evaluation, evaluate_chain, expire_day_orders
from order_service.repository import Repository

log = logging.getLogger(__name__)
Contract = tuple[str, date]


@dataclass
class Walk:
    """What a walk (or a poll) did."""

    evaluation: Evaluation = field(default_factory=Evaluation)
    observations: int = 0
    expired: list[int] = field(default_factory=list)
    settlement: SettlementRun | None = None
    unavailable: list[str] = field(default_factory=list)  # contracts market data could not serve


async def work_by_contract(repository: Repository, mode: TradeMode) -> dict[Contract, datetime]:
    """Each (underlying, expiry) with pending work in `mode`, and the earliest instant its work
    was last evaluated at (where a walk resumes)."""
    earliest: dict[Contract, datetime] = {}
    for order in await repository.pending_orders(mode.value):
        _earliest(
            earliest, (order.underlying, order.expiry), order.evaluated_at or order.created_at
        )
    for position in await repository.watched_positions(mode.value):
        seen = position.exits_evaluated_at or position.opened_at
        _earliest(earliest, (position.underlying, position.expiry), seen)
    if mode == TradeMode.REPLAY:  # every open replay position is marked at each step walked
        for position in await repository.open_positions():
            if position.mode == mode.value:
                seen = position.marked_at or position.entry_market_at or position.opened_at
                _earliest(earliest, (position.underlying, position.expiry), seen)
    return earliest


def _earliest(into: dict[Contract, datetime], key: Contract, when: datetime) -> None:
    into[key] = min(into.get(key, when), when)


async def poll_live(
    repository: Repository, market_data: MarketDataClient, now: datetime, square_off_at: time
) -> Walk:
    """One poll: one chain request per (underlying, expiry) with live work, each evaluated."""
    walk = Walk(expired=await expire_day_orders(repository, TradeMode.LIVE, now))
    for underlying, expiry in sorted(await work_by_contract(repository, TradeMode.LIVE)):
        try:
            captured = await market_data.afetch_chain(underlying, expiry, now)
        except MarketDataError as exc:
            walk.unavailable.append(f"{underlying} {expiry.isoformat()}: {exc}")
            continue
        walk.observations += 1
        walk.evaluation.add(
            await evaluate_chain(repository, captured, TradeMode.LIVE, square_off_at)
        )
    return walk


async def advance_replay(
    repository: Repository, market_data: MarketDataClient, until: datetime, square_off_at: time
) -> Walk:
    """Evaluate, in time order, every recorded observation after each pending replay item's last
    one, up to `until`; then expire DAY orders and settle contracts expired by `until`."""
    walk = Walk()
    for instant, contracts in await _observations(market_data, repository, until):
        walk.expired += await expire_day_orders(repository, TradeMode.REPLAY, instant)
        for underlying, expiry in contracts:
            try:
                captured = await market_data.afetch_chain(underlying, expiry, instant)
            except MarketDataError as exc:
                walk.unavailable.append(f"{underlying} {expiry.isoformat()} {instant}: {exc}")
                continue
            walk.observations += 1
            walk.evaluation.add(
                await evaluate_chain(repository, captured, TradeMode.REPLAY, square_off_at)
            )
    walk.expired += await expire_day_orders(repository, TradeMode.REPLAY, until)
    walk.settlement = await settle_expired(repository, market_data, now=until)
    return walk


async def _observations(
    market_data: MarketDataClient, repository: Repository, until: datetime
) -> list[tuple[datetime, list[Contract]]]:
    """The recorded instants after each contract's resume point up to `until`, in time order,
    with the contracts to evaluate at each."""
    work = await work_by_contract(repository, TradeMode.REPLAY)
    by_instant: dict[datetime, list[Contract]] = defaultdict(list)
    for underlying in sorted({u for u, _ in work}):
        start = min(when for (u, _), when in work.items() if u == underlying)
        if start >= until:
            continue
        for instant in await market_data.areplay_instants(underlying, start, until):
            for contract, resume in work.items():
                if contract[0] == underlying and resume < instant <= until:
                    by_instant[instant].append(contract)
    return sorted(by_instant.items())
