"""The market-data client: quotes, chains and settlement values, asked of the primary instance
and then of the fallback.

Each instance (a market-data service URL, `MarketDataInstance`) has its own pooled aiohttp GET
with tight timeouts and its own circuit breaker, so an instance found dead costs nothing: while
its breaker is open it is skipped, and after the reset timeout one background call (not a
caller's request) tries it again. When every breaker is open, skipping would refuse unasked: the
caller then tries them anyway, the one that last answered first, so an instance that came back
serves at once. Transport errors, timeouts, 5xx and malformed, non-finite or mismatched answers
all become one `QuoteUnavailable`, count against the instance's breaker, and the next instance is
asked. "Stale is not dead": no data at this instant (a stale answer, a 404 `/problems/no-data`
from a live provider, a 404 about `as_of` from a replay) is `QuoteNoData`: the next instance is
asked, but the breaker does not count it. A 400/404/422 about the option itself is the caller's
mistake (an unknown underlying, expiry or strike): it becomes `QuoteRejected` naming the field,
does not count against the instance, and is not retried elsewhere.

One implementation, async: the order path awaits `acapture_quote`, the order engine
`afetch_chain`, settlement `afetch_settlement`. Sync callers (the settlement thread and route, the
backfill) use `capture_quote` / `fetch_settlement`, which run the same coroutines on the client's
private event loop (`optrade.clients.runner`). The breakers live in the process: each uvicorn
worker (`ORDER_WORKERS`) keeps its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime
from functools import partial
from typing import TypeVar

from prometheus_client import Counter
from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from optrade.clients.captures import (
    CapturedChain,
    CapturedQuote,
    ChainRequest,
    QuoteRequest,
    quote_problem,
)
from optrade.clients.errors import MarketDataError, QuoteNoData, QuoteRejected, QuoteUnavailable
from optrade.clients.freshness import latest_market_instant
from optrade.clients.instance import MarketDataInstance
from optrade.clients.runner import LoopThread
from optrade.domain import utcnow
from optrade.schemas.market import OptionQuote, SettlementValue
from optrade.settings import deprecated_env

__all__ = [
    "CapturedChain",
    "CapturedQuote",
    "ChainRequest",
    "MarketDataClient",
    "MarketDataClientSettings",
    "MarketDataError",
    "MarketDataInstance",
    "QuoteNoData",
    "QuoteRejected",
    "QuoteRequest",
    "QuoteUnavailable",
    "latest_market_instant",
    "quote_problem",
]

log = logging.getLogger(__name__)
T = TypeVar("T")


PRIMARY = "primary"
FALLBACK = "fallback"
UNAVAILABLE = "unavailable"

CAPTURES = Counter(
    "market_data_captures_total",
    "Captures by what was fetched (quote, chain, settlement) and the instance that served it "
    "(primary, fallback) or unavailable",
    ["source", "kind"],
)


def _client_env(name: str) -> AliasChoices:
    """`MARKET_DATA_CLIENT_<NAME>`, else the deprecated `MARKET_DATA_<NAME>` it shared with the
    market-data service's own settings."""
    return deprecated_env(f"MARKET_DATA_CLIENT_{name}", f"MARKET_DATA_{name}")


class MarketDataClientSettings(BaseSettings):
    """Where the market data lives and how long to wait for it (`MARKET_DATA_CLIENT_*`)."""

    model_config = SettingsConfigDict(
        env_prefix="MARKET_DATA_CLIENT_",
        env_file=".env",
        extra="ignore",
        validate_by_name=True,
        loc_by_alias=False,
    )

    primary_url: str = Field("http://127.0.0.1:8001", validation_alias=_client_env("PRIMARY_URL"))
    # empty: no fallback
    fallback_url: str | None = Field(
        "http://127.0.0.1:8002", validation_alias=_client_env("FALLBACK_URL")
    )
    connect_timeout: float = Field(0.25, validation_alias=_client_env("CONNECT_TIMEOUT"))  # s
    read_timeout: float = Field(0.5, validation_alias=_client_env("READ_TIMEOUT"))  # seconds
    # consecutive failures that open a provider's breaker
    breaker_fail_max: int = Field(3, validation_alias=_client_env("BREAKER_FAIL_MAX"))
    # seconds open before one trial call (half-open)
    breaker_reset_timeout: float = Field(
        10.0, validation_alias=_client_env("BREAKER_RESET_TIMEOUT")
    )
    # seconds a quote may be older than the instant asked for
    max_quote_age: float = Field(120.0, validation_alias=_client_env("MAX_QUOTE_AGE"))
    # seconds a quote may be newer than the instant asked for
    max_clock_skew: float = Field(5.0, validation_alias=_client_env("MAX_CLOCK_SKEW"))
    max_connections: int = Field(64, validation_alias=_client_env("MAX_CONNECTIONS"))

    @field_validator("fallback_url")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value or None


class MarketDataClient:
    """Answers from the first instance that gives a usable one, in order (primary, fallback)."""

    def __init__(self, instances: Sequence[MarketDataInstance]) -> None:
        if not instances:
            raise ValueError("at least one market-data instance is needed")
        self.instances = list(instances)
        self._runner = LoopThread("market-data-client")  # sync callers' loop, started on use

    @classmethod
    def from_settings(cls, settings: MarketDataClientSettings | None = None) -> MarketDataClient:
        """Build the primary (and fallback, when configured) instances; call once per process."""
        settings = settings or MarketDataClientSettings()
        urls = {PRIMARY: settings.primary_url, FALLBACK: settings.fallback_url}
        return cls([MarketDataInstance(name, url, settings) for name, url in urls.items() if url])

    async def acapture_quote(
        self,
        request: QuoteRequest,
        *,
        refuse: Callable[[OptionQuote], str | None] | None = None,
    ) -> CapturedQuote:
        """The quote of the first instance that answers usably; `QuoteUnavailable` if none does.

        When every breaker is open, nobody would be asked: the instances are then tried anyway,
        the one that last gave a usable answer first (the primary when none has), so an instance
        that came back serves this request instead of the next background probe.
        `refuse(quote)` may name a reason a well-formed quote is not wanted (the backfill refuses a
        market other than the trade's); the next instance is asked and no breaker counts it.
        """
        quote, source, skipped = await self._first_usable(
            "quote", lambda instance: partial(instance.fetch_quote, request), refuse
        )
        return CapturedQuote(quote, source, utcnow(), skipped)

    async def afetch_chain(self, underlying: str, expiry: date, as_of: datetime) -> CapturedChain:
        """The whole chain of `expiry` at `as_of` from one instance, through the same breakers
        and fallback as a quote; the instance (`source`) and the provider are recorded."""
        request = ChainRequest(underlying, expiry, as_of)
        chain, source, skipped = await self._first_usable(
            "chain", lambda instance: partial(instance.fetch_chain, request), None
        )
        return CapturedChain(chain, source, utcnow(), skipped)

    async def afetch_settlement(self, underlying: str, expiry: date) -> tuple[SettlementValue, str]:
        """The value `expiry` settles against and the instance (primary, fallback) that gave it,
        through the breakers and the fallback like a quote.

        A 404 (not settled yet, or not in the provider's data) is `QuoteRejected`; when no
        instance answers at all, `QuoteUnavailable`.
        """
        value, source, _ = await self._first_usable(
            "settlement",
            lambda instance: partial(instance.fetch_settlement, underlying, expiry),
            None,
        )
        return value, source

    async def areplay_instants(
        self, underlying: str, start: datetime, end: datetime
    ) -> list[datetime]:
        """The recorded instants of a replay market in (start, end], ascending: the observations
        a replay walk evaluates (`GET /v1/replay/instants`); empty when the market is not a
        replay or has nothing there."""
        try:
            found, _, _ = await self._first_usable(
                "replay instants",
                lambda instance: partial(instance.fetch_replay_instants, underlying, start, end),
                None,
            )
        except QuoteRejected:
            return []
        return [instant for instant in found.instants if start < instant <= end]

    async def _first_usable(
        self,
        kind: str,
        fetch: Callable[[MarketDataInstance], Callable[[], Awaitable[T]]],
        refuse: Callable[[T], str | None] | None,
    ) -> tuple[T, str, tuple[str, ...]]:
        """The capture loop: each instance in turn through its breaker (or as a trial when every
        breaker is open) until one gives a usable answer that `refuse` does not refuse."""
        trial = all(not instance.is_closed for instance in self.instances)
        if trial:
            log.warning("every market-data circuit breaker is open: asking them anyway")
        skipped: list[str] = []
        for instance in _asking_order(self.instances, trial):
            try:
                answer = await instance.ask(fetch(instance), trial=trial)
            except QuoteUnavailable as exc:
                skipped.append(str(exc))
                continue
            refused = refuse(answer) if refuse is not None else None
            if refused:
                skipped.append(f"{instance.name}: {refused}")
                continue
            CAPTURES.labels(instance.name, kind).inc()
            if skipped:
                log.warning("%s served by %s after: %s", kind, instance.name, "; ".join(skipped))
            return answer, instance.name, tuple(skipped)
        CAPTURES.labels(UNAVAILABLE, kind).inc()
        raise QuoteUnavailable("all providers", "; ".join(skipped))

    def capture_quote(
        self,
        request: QuoteRequest,
        *,
        refuse: Callable[[OptionQuote], str | None] | None = None,
    ) -> CapturedQuote:
        """`acapture_quote` for a sync caller, run on the client's own event loop."""
        return self._runner.run(self.acapture_quote(request, refuse=refuse))

    def fetch_settlement(self, underlying: str, expiry: date) -> tuple[SettlementValue, str]:
        """`afetch_settlement` for a sync caller, run on the client's own event loop."""
        return self._runner.run(self.afetch_settlement(underlying, expiry))

    def breaker_states(self) -> dict[str, str]:
        """Each instance's circuit breaker state, e.g. `{"primary": "open", ...}`."""
        return {instance.name: instance.breaker_state for instance in self.instances}

    async def aclose(self) -> None:
        """Close the pools of the running loop and of the sync callers' loop."""
        for instance in self.instances:
            await instance.aclose()
        if self._runner.started:  # stopping it waits on another loop: not on this one
            await asyncio.to_thread(self.close)

    def close(self) -> None:
        """Close the sync callers' loop and its pools (the only ones a sync user has)."""
        self._runner.close(self._close_instances())

    async def _close_instances(self) -> None:
        for instance in self.instances:
            await instance.aclose()


def _asking_order(instances: Sequence[MarketDataInstance], trial: bool) -> list[MarketDataInstance]:
    """Configured order; when every breaker is open, the most recently successful first
    (never-successful ones after, in configured order)."""
    if not trial:
        return list(instances)
    return sorted(
        instances,
        key=lambda i: -i.last_success_at if i.last_success_at is not None else float("inf"),
    )
