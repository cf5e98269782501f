"""A live upstream behind the provider interface: cache, single flight, freshness, recording.

- One upstream request serves every caller for `cache_seconds` per (underlying, expiry); callers
  arriving while it is in flight await the same request.
- A chain whose market time is older than `max_quote_age` is refused as stale (`NoData`).
- An instant further back than `max_quote_age` is served from this provider's own recording
  (the snapshot at or before it, if it is no older than `max_quote_age`), else `NoData`.
- 429: the upstream is not asked again before its `Retry-After`; meanwhile the last chain is
  served if still fresh enough, else 503 `provider_rate_limited` with `Retry-After`.
- 401/403: 503 `provider_auth_failed`, logged, and `/readyz` fails until a request succeeds.
- No timestamp from the upstream: `as_of` is our receive time and `as_of_source` says so.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol, TypeVar

from prometheus_client import Counter

from market_data_service.providers.base import (
    Chain,
    ExpiryListing,
    MarketSnapshot,
    UnderlyingListing,
    nearest_live_expiry,
    put_call_ratio,
    unknown_expiry,
    unknown_underlying,
)
from market_data_service.providers.live.errors import (
    NoData,
    ProviderAuthFailed,
    ProviderError,
    ProviderRateLimited,
    ProviderUnavailable,
)
from market_data_service.providers.live.flight import SingleFlightCache
from market_data_service.providers.live.http import UpstreamClient, UpstreamRejected
from market_data_service.providers.live.units import MalformedAnswer
from market_data_service.providers.recording import Recorder, RecordingStore, no_history
from optrade.calendar import IST
from optrade.instruments import InstrumentSpec

log = logging.getLogger(__name__)

UPSTREAM_REQUESTS = Counter(
    "market_data_upstream_requests_total",
    "Requests this service made to its live upstream, by kind and outcome",
    ["provider", "kind", "outcome"],
)
EXPIRY_CACHE_SECONDS = 300.0
T = TypeVar("T")


class Upstream(Protocol):
    """What an adapter (OpenAlgo, Upstox) answers, already in our units."""

    name: str
    client: UpstreamClient

    def supports(self, underlying: str) -> bool: ...

    async def expiries(self, underlying: str) -> dict[date, int | None]:
        """Listed expiries and, where the upstream says, their lot size."""
        ...

    async def chain(self, underlying: str, expiry: date, lot_size: int) -> Chain:
        """The chain (vix None, pcr computed by the caller) as the upstream shows it now."""
        ...

    async def index_ltp(self, underlying: str | None) -> float | None:
        """Last value of an index (`None` asks for India VIX)."""
        ...


class LiveProvider:
    """The provider interface (async) over one live upstream."""

    def __init__(
        self,
        upstream: Upstream,
        *,
        instance: str,
        instruments: dict[str, InstrumentSpec],
        cache_seconds: float,
        max_quote_age: float,
        recorder: Recorder | None,
        history: RecordingStore | None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.upstream = upstream
        self.name = upstream.name
        self.instance = instance
        self._instruments = instruments
        self.cache_seconds = cache_seconds
        self.max_quote_age = timedelta(seconds=max_quote_age)
        self.recorder = recorder
        self.history = history
        self._clock = clock
        self.cache: SingleFlightCache[Any] = SingleFlightCache()
        self._backoff_until = 0.0
        self._recording: set[asyncio.Task[None]] = set()
        self.auth_error: str | None = None

    # -- the provider interface (async) -------------------------------------------------------

    async def achain(self, underlying: str, expiry: date | None, as_of: datetime) -> Chain:
        """The chain now, or from this provider's recording for an earlier instant."""
        self._check_underlying(underlying)
        now = self._clock()
        if as_of < now - self.max_quote_age:
            return self._recorded(underlying, expiry, as_of)
        listed = await self._expiries(underlying)
        if expiry is None:
            expiry = nearest_live_expiry(sorted(listed), now)
        elif expiry not in listed:
            raise unknown_expiry(underlying, expiry, sorted(listed))
        lot = listed[expiry] or self._instruments[underlying].lot_size_for(expiry)
        chain = await self._fresh_chain(underlying, expiry, lot)
        age = now - chain.as_of
        if age > self.max_quote_age:
            raise NoData(
                f"stale: {self.name} data for {underlying} {expiry} is from "
                f"{chain.as_of.astimezone(IST).isoformat()}, {age.total_seconds():.0f} s old "
                f"(limit {self.max_quote_age.total_seconds():.0f} s)"
            )
        return chain

    async def acontext(self, underlying: str, as_of: datetime) -> MarketSnapshot:
        chain = await self.achain(underlying, None, as_of)
        return MarketSnapshot(underlying, chain.spot, chain.vix, chain.pcr, chain.expiry,
                              chain.as_of)  # fmt: skip

    async def aunderlyings(self, as_of: datetime) -> list[UnderlyingListing]:
        listings = []
        for name, spec in sorted(self._instruments.items()):
            if not self.upstream.supports(name):
                continue
            listed = await self._expiries(name)
            spot = await self._cached(("spot", name), self._index(name))
            if not listed or not isinstance(spot, float):
                continue
            expiries = tuple(
                ExpiryListing(e, lot or spec.lot_size_for(e)) for e, lot in sorted(listed.items())
            )
            listings.append(UnderlyingListing(name, spot, spec.strike_step, expiries,
                                              self._clock()))  # fmt: skip
        return listings

    def ready(self) -> None:
        """Not ready while the upstream refuses our credentials."""
        if self.auth_error:
            raise RuntimeError(f"provider_auth_failed: {self.auth_error}")

    async def aclose(self) -> None:
        await self.flush()
        await self.upstream.client.aclose()

    # The synchronous interface is not served: routes await the async one (see providers.access).
    def chain(self, underlying: str, expiry: date | None, as_of: datetime) -> Chain:
        raise NotImplementedError("a live provider is asynchronous: use achain")

    def context(self, underlying: str, as_of: datetime) -> MarketSnapshot:
        raise NotImplementedError("a live provider is asynchronous: use acontext")

    def underlyings(self, as_of: datetime) -> list[UnderlyingListing]:
        raise NotImplementedError("a live provider is asynchronous: use aunderlyings")

    # -- internals ----------------------------------------------------------------------------

    def _index(self, underlying: str | None) -> Callable[[], Awaitable[float | None]]:
        return lambda: self.upstream.index_ltp(underlying)

    def _check_underlying(self, underlying: str) -> None:
        served = [n for n in self._instruments if self.upstream.supports(n)]
        if underlying not in served:
            raise unknown_underlying(underlying, served)

    def _recorded(self, underlying: str, expiry: date | None, as_of: datetime) -> Chain:
        found = self.history.at(underlying, expiry, as_of) if self.history else None
        if found is None or as_of - found.as_of > self.max_quote_age:
            raise no_history(self.name, underlying, as_of)
        return found

    async def _expiries(self, underlying: str) -> dict[date, int | None]:
        async def fetch() -> dict[date, int | None]:
            return await self._guarded("expiries", lambda: self.upstream.expiries(underlying))

        listed: dict[date, int | None] = await self.cache.get(
            ("expiries", underlying), EXPIRY_CACHE_SECONDS, fetch
        )
        return listed

    async def _cached(
        self, key: tuple[str, str | None], fetch: Callable[[], Awaitable[float | None]]
    ) -> float | None:
        async def guarded() -> float | None:
            try:
                return await self._guarded(key[0], fetch)
            except ProviderAuthFailed:
                raise
            except ProviderError as exc:  # an index value is context: absent, not fatal
                log.warning("%s %s unavailable: %s", self.name, key, exc.detail)
                return None

        return await self.cache.get(key, self.cache_seconds, guarded)

    async def _fresh_chain(self, underlying: str, expiry: date, lot: int) -> Chain:
        key = ("chain", underlying, expiry)
        try:
            chain = await self.cache.get(
                key, self.cache_seconds, lambda: self._fetch_chain(underlying, expiry, lot)
            )
        except ProviderRateLimited:
            last = self.cache.last(key)
            if isinstance(last, Chain) and self._clock() - last.as_of <= self.max_quote_age:
                return last  # served from cache while the upstream asks us to back off
            raise
        assert isinstance(chain, Chain)
        return chain

    async def _fetch_chain(self, underlying: str, expiry: date, lot: int) -> Chain:
        chain_task = self._guarded("chain", lambda: self.upstream.chain(underlying, expiry, lot))
        vix_task = self._cached(("vix", None), self._index(None))
        chain: Chain
        chain, vix = await asyncio.gather(chain_task, vix_task)
        received_at = self._clock()
        chain = dataclasses.replace(
            chain,
            vix=vix if isinstance(vix, float) else None,
            pcr=put_call_ratio(chain.rows),
            as_of=chain.upstream_at or received_at,
            as_of_source="upstream" if chain.upstream_at else "received",
        )
        if self.recorder is not None:  # written beside serving: callers never wait on the disk
            task = asyncio.create_task(asyncio.to_thread(self._record, chain, received_at))
            self._recording.add(task)
            task.add_done_callback(self._recording.discard)
        return chain

    def _record(self, chain: Chain, received_at: datetime) -> None:
        assert self.recorder is not None
        try:
            self.recorder.append(chain, received_at)
        except OSError as exc:  # a full disk must not stop trading; it is logged loudly
            log.error("recording %s %s %s failed: %s", self.name, chain.underlying, chain.expiry,
                      exc)  # fmt: skip

    async def flush(self) -> None:
        """Wait for every recording started so far (shutdown, tests)."""
        while self._recording:
            await asyncio.gather(*list(self._recording), return_exceptions=True)

    async def _guarded(self, kind: str, call: Callable[[], Awaitable[T]]) -> T:
        """One upstream call with back-off after a 429 and the auth state kept for /readyz."""
        wait = self._backoff_until - time.monotonic()
        if wait > 0:
            raise ProviderRateLimited(
                self.name, f"backing off after HTTP 429 for {wait:.0f} s", retry_after=int(wait) + 1
            )
        try:
            result = await call()
        except ProviderAuthFailed as exc:
            self._note(kind, "auth_failed")
            if self.auth_error != exc.detail:
                log.error("provider_auth_failed: %s", exc.detail)
            self.auth_error = exc.detail
            raise
        except ProviderRateLimited as exc:
            self._note(kind, "rate_limited")
            self._backoff_until = time.monotonic() + exc.retry_after
            log.warning("%s rate limited; backing off %d s", self.name, exc.retry_after)
            raise
        except MalformedAnswer as exc:
            self._note(kind, "malformed")
            raise ProviderUnavailable(self.name, f"malformed {kind} answer: {exc}") from None
        except ProviderError:
            self._note(kind, "failed")
            raise
        except UpstreamRejected as exc:  # a 4xx the adapter did not expect: the upstream's fault
            self._note(kind, "failed")
            raise ProviderUnavailable(self.name, f"{kind} refused: {exc}") from None
        self._note(kind, "ok")
        self.auth_error = None
        return result

    def _note(self, kind: str, outcome: str) -> None:
        UPSTREAM_REQUESTS.labels(self.name, kind, outcome).inc()
