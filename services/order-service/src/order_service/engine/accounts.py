"""What the engine does for the paper accounts each tick (issue 22): mark the open positions at
most once per poll interval, and store every account's equity once a trading day at 15:30 IST."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol

from optrade.calendar import expiry_close, is_trading_day
from optrade.clients.market_data import MarketDataClient
from optrade.domain import IST
from order_service.application.accounts import snapshot_equity
from order_service.application.marking import mark_open_positions
from order_service.repository import Repository
from order_service.settings import OrderSettings

log = logging.getLogger(__name__)


class EngineParts(Protocol):
    repository: Repository
    market_data: MarketDataClient
    settings: OrderSettings


@dataclass
class AccountKeeper:
    next_mark: datetime | None = None
    equity_day: date | None = None  # the IST day whose 15:30 snapshot is stored

    async def mark(self, engine: EngineParts, now: datetime) -> None:
        """Mark every open position when the last marking is a poll interval old."""
        if self.next_mark is not None and now < self.next_mark:
            return
        self.next_mark = now + timedelta(seconds=engine.settings.engine_poll_interval)
        run = await mark_open_positions(engine.repository, engine.market_data, now)
        if run.unquoted:
            log.debug("marked %d positions; %d contracts without a quote", run.marked, run.unquoted)

    async def snapshot(self, repository: Repository, now: datetime) -> None:
        """At or after 15:30 IST of a trading day, store each account's page once for that day."""
        day = now.astimezone(IST).date()
        if self.equity_day == day or now < expiry_close(day) or not is_trading_day(day):
            return
        stored = await snapshot_equity(repository, now)
        self.equity_day = day
        log.info("equity of %s at 15:30 IST: %d accounts stored", day.isoformat(), stored)
