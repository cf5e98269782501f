"""A per-key cache whose misses are fetched once however many callers ask at the same time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class SingleFlightCache(Generic[T]):
    """Values younger than `ttl` seconds are served from memory; a miss starts one fetch that
    every concurrent caller of the same key awaits (the upstream sees one request)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._values: dict[Hashable, tuple[T, float]] = {}
        self._inflight: dict[Hashable, asyncio.Future[T]] = {}
        self.fetches = 0  # upstream fetches started (for the benchmark and tests)

    async def get(self, key: Hashable, ttl: float, fetch: Callable[[], Awaitable[T]]) -> T:
        """The cached value of `key` if younger than `ttl`, else the result of one shared fetch."""
        hit = self._values.get(key)
        if hit is not None and self._clock() - hit[1] < ttl:
            return hit[0]
        future = self._inflight.get(key)
        if future is None:
            self.fetches += 1
            future = asyncio.ensure_future(self._run(key, fetch))
            # Retrieve the exception even when every waiter was cancelled (no asyncio warning).
            future.add_done_callback(lambda f: f.cancelled() or f.exception())
            self._inflight[key] = future
        return await asyncio.shield(future)

    async def _run(self, key: Hashable, fetch: Callable[[], Awaitable[T]]) -> T:
        try:
            value = await fetch()
            self._values[key] = (value, self._clock())
            return value
        finally:
            self._inflight.pop(key, None)

    def last(self, key: Hashable) -> T | None:
        """The last value fetched for `key`, however old (to serve while rate limited)."""
        hit = self._values.get(key)
        return hit[0] if hit is not None else None
