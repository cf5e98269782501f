"""Ask any provider from a route: a live one is awaited, a file-backed one runs in a thread.

Live providers (`achain`, `acontext`, `aunderlyings`) do network I/O and await it on the event
loop. The others answer from memory or files (a cold replay file takes tens of milliseconds), so
they, and the pricer's Greeks of a new chain, run in a worker thread.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool

from market_data_service.pricing import ChainGreeks, ChainPricer
from market_data_service.providers.base import (
    Chain,
    MarketDataProvider,
    MarketSnapshot,
    UnderlyingListing,
)


async def load_priced_chain(
    provider: MarketDataProvider,
    pricer: ChainPricer,
    underlying: str,
    expiry: date | None,
    as_of: datetime,
) -> tuple[Chain, ChainGreeks]:
    """The chain and our IV/Greeks of every leg."""
    live: Any = getattr(provider, "achain", None)
    if live is not None:
        chain: Chain = await live(underlying, expiry, as_of)
        return chain, await asyncio.to_thread(pricer.greeks, chain)

    def priced_chain() -> tuple[Chain, ChainGreeks]:
        chain = provider.chain(underlying, expiry, as_of)
        return chain, pricer.greeks(chain)

    return await asyncio.to_thread(priced_chain)


async def load_context(
    provider: MarketDataProvider, underlying: str, as_of: datetime
) -> MarketSnapshot:
    live: Any = getattr(provider, "acontext", None)
    if live is not None:
        snapshot: MarketSnapshot = await live(underlying, as_of)
        return snapshot
    return await run_in_threadpool(provider.context, underlying, as_of)


async def load_underlyings(
    provider: MarketDataProvider, as_of: datetime
) -> list[UnderlyingListing]:
    live: Any = getattr(provider, "aunderlyings", None)
    if live is not None:
        listings: list[UnderlyingListing] = await live(as_of)
        return listings
    return await run_in_threadpool(provider.underlyings, as_of)
