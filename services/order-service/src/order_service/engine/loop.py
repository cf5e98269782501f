"""The engine's loop: lead (a lease renewed each tick), then do what is due."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from optrade.calendar import expiry_close
from optrade.clients.market_data import MarketDataClient
from optrade.domain import IST, utcnow
from order_service.application.settling import SettlementRun, settle_expired
from order_service.application.walking import poll_live
from order_service.engine.accounts import AccountKeeper
from order_service.repository import Repository
from order_service.settings import OrderSettings

log = logging.getLogger(__name__)

ROLE = "order-engine"


def next_settlement_instant(now: datetime) -> datetime:
    """The next 15:30 IST (an expiry's close) after `now`: today's, else tomorrow's."""
    today = now.astimezone(IST).date()
    close = expiry_close(today)
    return close if close > now else expiry_close(today + timedelta(days=1))


def holder_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class Engine:
    repository: Repository
    market_data: MarketDataClient
    settings: OrderSettings
    holder: str = field(default_factory=holder_name)
    leading: bool = False
    next_sweep: datetime | None = None  # None: sweep at once (start-up, or leadership taken)
    accounts: AccountKeeper = field(default_factory=AccountKeeper)  # marks, daily equity

    async def lead(self, now: datetime) -> bool:
        """Take or renew the lease; log when leadership changes hands."""
        until = now + timedelta(seconds=self.settings.engine_lease_seconds)
        leading = await self.repository.hold_lease(ROLE, self.holder, until, now)
        if leading != self.leading:
            log.info("order engine %s %s", self.holder, "leads" if leading else "stands by")
            self.next_sweep = None if leading else self.next_sweep
        self.leading = leading
        return leading

    async def tick(self, now: datetime) -> SettlementRun | None:
        """One pass: renew the lease, work the live venue (one chain per contract with pending
        orders or exits), then settle when a sweep is due."""
        if not await self.lead(now):
            return None
        walk = await poll_live(  # first: a trigger waits for nothing else
            self.repository, self.market_data, now, self.settings.square_off_time
        )
        await self.accounts.mark(self, now)  # every open live position, once per poll interval
        await self.accounts.snapshot(self.repository, now)  # each account's equity at 15:30 IST
        done = walk.evaluation
        if done.filled or done.exits or walk.expired or done.triggered:
            log.info("venue: %d filled, %d exits, %d triggered, %d expired",
                     len(done.filled), len(done.exits), len(done.triggered),
                     len(walk.expired))  # fmt: skip
        if walk.unavailable:
            log.warning("venue: no market data for %s; nothing filled there, retrying",
                        "; ".join(walk.unavailable))  # fmt: skip
        if self.next_sweep is not None and now < self.next_sweep:
            return None
        interval = timedelta(seconds=self.settings.engine_settlement_interval)
        self.next_sweep = min(now + interval, next_settlement_instant(now))
        run = await settle_expired(self.repository, self.market_data, now=now)
        if run.settled or run.pending:
            log.info("settlement: %d settled, %d expiries pending, %d already settled",
                     len(run.settled), len(run.pending), run.already_settled)  # fmt: skip
        return run

    async def run(self, stop: asyncio.Event) -> None:
        """Tick every poll interval (a tick's own time counts in it) until `stop` is set; a
        failing tick is logged, not fatal."""
        clock = asyncio.get_running_loop().time
        try:
            while not stop.is_set():
                started = clock()
                try:
                    await self.tick(utcnow())
                except Exception:  # the database or market data down: try again next tick
                    log.exception("order engine tick failed; retrying")
                    self.leading = False
                rest = self.settings.engine_poll_interval - (clock() - started)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), max(rest, 0.01))
        finally:
            if self.leading:
                await self.repository.release_lease(ROLE, self.holder)
