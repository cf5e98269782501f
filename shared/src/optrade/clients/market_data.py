"""The market-data client: one quote, asked of the primary provider and then of the fallback.

Each provider (a market-data service URL) has its own `httpx.Client` with tight timeouts and its
own circuit breaker, so a provider found dead costs nothing: while its breaker is open it is
skipped, and after the reset timeout one background call (not a caller's request) tries it again.
When every breaker is open, skipping would refuse unasked: the caller then tries them anyway, the
one that last answered first, so a provider that came back serves at once.
Transport errors, timeouts, 5xx and malformed, non-finite or mismatched quotes all become one
`QuoteUnavailable`, count against the provider's breaker, and the next provider is asked.
"Stale is not dead": no data at this instant (a stale quote, a 404 `/problems/no-data` from a live
provider, a 404 about `as_of` from a replay) is `QuoteNoData`: the next provider is asked, but
the breaker does not count it. A 400/404/422 about the option itself is the caller's mistake
(an unknown underlying, expiry or strike): it becomes `QuoteRejected` naming the field, does not
count against the provider, and is not retried elsewhere.

Used by the order service (entry and exit capture) and meant for the backfill job.
The breakers live in the process: each uvicorn worker (`ORDER_WORKERS`) keeps its own.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pybreaker
from prometheus_client import Counter, Gauge
from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from optrade.calendar import is_trading_day, previous_trading_day
from optrade.clients.async_http import AiohttpGetter, AsyncGetter, HttpxGetter
from optrade.domain import IST, MARKET_CLOSE, MARKET_OPEN, utcnow
from optrade.observability import outgoing_headers
from optrade.schemas.market import OptionQuote, SettlementValue
from optrade.settings import deprecated_env

log = logging.getLogger(__name__)

PRIMARY = "primary"
FALLBACK = "fallback"
UNAVAILABLE = "unavailable"

PROVIDER_CALLS = Counter(
    "market_data_provider_calls_total",
    "Quote requests per market-data provider by outcome",
    ["provider", "outcome"],
)
CAPTURES = Counter(
    "market_data_captures_total",
    "Quote captures by the source that served them (primary, fallback) or unavailable",
    ["source"],
)
BREAKER_STATE = Gauge(
    "market_data_breaker_state",
    "Circuit breaker state per market-data provider: 1 for the state it is in, 0 for the others",
    ["provider", "state"],
)
BREAKER_STATES = (pybreaker.STATE_CLOSED, pybreaker.STATE_HALF_OPEN, pybreaker.STATE_OPEN)
_REQUEST_FIELDS = ("underlying", "expiry", "strike", "option_type", "as_of")
STALE = "stale quote"
SETTLEMENT_TIMEOUT = 10.0  # seconds: a rare call that may parse a snapshot file; not a fill


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


class MarketDataError(Exception):
    """No usable quote: the base of every error the market-data client raises for a quote."""


class QuoteUnavailable(MarketDataError):
    """A provider (or every provider) could not give a usable quote."""

    def __init__(self, provider: str, reason: str) -> None:
        super().__init__(f"{provider}: {reason}")
        self.provider = provider
        self.reason = reason


class QuoteNoData(QuoteUnavailable):
    """The provider has no data at this instant (stale, outside its history): a rejection of this
    request, not a provider failure; the next provider is asked and no breaker counts it."""


class QuoteRejected(MarketDataError):
    """The provider answered that the option does not exist: the caller's error, not an outage."""

    def __init__(self, field_name: str, detail: str, status_code: int) -> None:
        super().__init__(f"{field_name}: {detail}")
        self.field = field_name
        self.detail = detail
        self.status_code = status_code


@dataclass(frozen=True)
class QuoteRequest:
    """One option at one market instant (timezone-aware)."""

    underlying: str
    expiry: date
    strike: Decimal
    option_type: str
    as_of: datetime

    def params(self) -> dict[str, str]:
        strike = self.strike.to_integral_value() if self.strike % 1 == 0 else self.strike
        return {
            "expiry": self.expiry.isoformat(),
            "strike": str(strike),
            "option_type": self.option_type,
            "as_of": self.as_of.isoformat(),
        }


@dataclass(frozen=True)
class CapturedQuote:
    """A usable quote, which provider served it, when, and why earlier providers did not."""

    quote: OptionQuote
    source: str  # primary | fallback
    captured_at: datetime
    skipped: tuple[str, ...] = field(default_factory=tuple)


class _BreakerGauge(pybreaker.CircuitBreakerListener):
    def __init__(self, provider: str) -> None:
        self.provider = provider
        self._show(pybreaker.STATE_CLOSED)

    def _show(self, current: str) -> None:
        for state in BREAKER_STATES:
            BREAKER_STATE.labels(self.provider, state).set(1 if state == current else 0)

    def state_change(self, cb: pybreaker.CircuitBreaker, old_state: Any, new_state: Any) -> None:
        self._show(new_state.name)
        log.warning(
            "market-data %s circuit breaker %s -> %s",
            self.provider,
            getattr(old_state, "name", None),
            new_state.name,
        )


class MarketDataProvider:
    """One market-data service URL behind its own HTTP client and circuit breaker."""

    def __init__(
        self,
        name: str,
        base_url: str,
        settings: MarketDataClientSettings,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.name = name
        self.base_url = base_url
        self.max_quote_age = timedelta(seconds=settings.max_quote_age)
        self.max_clock_skew = timedelta(seconds=settings.max_clock_skew)
        read = settings.read_timeout
        options: dict[str, Any] = {
            "base_url": base_url,
            "timeout": httpx.Timeout(
                connect=settings.connect_timeout, read=read, write=read, pool=read
            ),
            "limits": httpx.Limits(
                max_connections=settings.max_connections,
                max_keepalive_connections=settings.max_connections,
            ),
        }
        # The sync client serves threads (settlement, backfill, the background probe); the one
        # shared async client serves the order path on the event loop (no thread hand-off).
        self.http = httpx.Client(transport=transport, **options)
        self.async_http: AsyncGetter
        if isinstance(transport, httpx.AsyncBaseTransport):
            self.async_http = HttpxGetter(transport, **options)
        else:
            self.async_http = AiohttpGetter(
                base_url,
                connect_timeout=settings.connect_timeout,
                read_timeout=read,
                max_connections=settings.max_connections,
            )
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=settings.breaker_fail_max,
            reset_timeout=settings.breaker_reset_timeout,
            exclude=[QuoteRejected, QuoteNoData],
            listeners=[_BreakerGauge(name)],
            name=f"market-data-{name}",
        )
        self._probing = threading.Lock()  # at most one trial call (background or not) at a time
        self._next_probe_at = 0.0  # time.monotonic() before which no trial call is made
        self.last_success_at: float | None = None  # time.monotonic() of the last usable quote

    @property
    def breaker_state(self) -> str:
        """`closed`, `open` or `half-open`."""
        return str(self.breaker.current_state)

    def fetch_quote(self, request: QuoteRequest) -> OptionQuote:
        """Ask this provider for a quote, unless its circuit breaker is open.

        A caller never waits on a provider whose breaker is open or half-open: it skips it, and
        once the reset timeout has passed one background call tries the provider again (closing
        the breaker if it answers). pybreaker's own half-open state would instead make the next
        callers, all of them, wait out the dead provider's timeout once per reset timeout.
        """
        self._skip_if_open(request)
        return self._guarded_fetch(request)

    def trial_fetch(self, request: QuoteRequest) -> OptionQuote:
        """Ask this provider now although its breaker is open: a trial made by a caller.

        Used only when every provider's breaker is open, so refusing unasked would turn away a
        provider that has come back. One trial per provider at a time: a concurrent caller does
        not pile onto a provider that may still be dead. Success closes the breaker; failure
        opens it again.
        """
        with self._trial():
            return self._fetch(request)

    async def afetch_quote(self, request: QuoteRequest) -> OptionQuote:
        """`fetch_quote` on the event loop, over the provider's pooled async GET."""
        self._skip_if_open(request)
        with self._guarded():
            return await self._afetch(request)

    async def atrial_fetch(self, request: QuoteRequest) -> OptionQuote:
        """`trial_fetch` on the event loop."""
        with self._trial():
            return await self._afetch(request)

    def _skip_if_open(self, request: QuoteRequest) -> None:
        """Refuse unasked while the breaker is not closed (and start the background probe)."""
        if self.breaker.current_state != pybreaker.STATE_CLOSED:
            self._probe_in_background(request)
            PROVIDER_CALLS.labels(self.name, "circuit_open").inc()
            raise QuoteUnavailable(self.name, "circuit breaker open, not asked")

    @contextmanager
    def _trial(self) -> Iterator[None]:
        """A caller's guarded call that half-opens an open breaker first, one at a time."""
        if self.breaker.current_state == pybreaker.STATE_CLOSED:
            with self._guarded():
                yield
            return
        if not self._probing.acquire(blocking=False):
            PROVIDER_CALLS.labels(self.name, "circuit_open").inc()
            raise QuoteUnavailable(self.name, "circuit breaker open, a trial call is in flight")
        try:
            self.breaker.half_open()
            with self._guarded():
                yield
        finally:
            self._probing.release()

    def _probe_in_background(self, request: QuoteRequest) -> None:
        now = time.monotonic()
        if now < self._next_probe_at or not self._probing.acquire(blocking=False):
            return
        self._next_probe_at = now + self.breaker.reset_timeout

        def probe() -> None:
            try:
                self._guarded_fetch(request)
            except (QuoteUnavailable, QuoteRejected):
                pass  # still dead: the breaker is open again, the next probe comes later
            finally:
                self._probing.release()

        threading.Thread(target=probe, name=f"market-data-{self.name}-probe", daemon=True).start()

    def _guarded_fetch(self, request: QuoteRequest) -> OptionQuote:
        with self._guarded():
            return self._fetch(request)

    @contextmanager
    def _guarded(self) -> Iterator[None]:
        """Count one call against the breaker and in the metrics (sync or async body)."""
        try:
            # `calling()` runs the request outside the breaker's lock; `breaker.call` would hold
            # that lock for the whole HTTP round trip and serialize every caller of the provider.
            with self.breaker.calling():
                yield
        except pybreaker.CircuitBreakerError as exc:
            cause = exc.__context__
            if isinstance(cause, QuoteUnavailable):  # this failure (re)opened the breaker
                self._next_probe_at = time.monotonic() + self.breaker.reset_timeout
                PROVIDER_CALLS.labels(self.name, "failed").inc()
                raise QuoteUnavailable(self.name, f"{cause.reason}; circuit opened") from exc
            PROVIDER_CALLS.labels(self.name, "circuit_open").inc()
            raise QuoteUnavailable(self.name, "circuit breaker open, not asked") from exc
        except QuoteNoData:
            PROVIDER_CALLS.labels(self.name, "no_data").inc()
            raise
        except QuoteUnavailable:
            PROVIDER_CALLS.labels(self.name, "failed").inc()
            raise
        except QuoteRejected:
            PROVIDER_CALLS.labels(self.name, "rejected").inc()
            raise
        PROVIDER_CALLS.labels(self.name, "ok").inc()
        self.last_success_at = time.monotonic()

    def _fetch(self, request: QuoteRequest) -> OptionQuote:
        with self._transport_errors():
            response = self.http.get(
                f"/v1/quote/{request.underlying}",
                params=request.params(),
                headers=outgoing_headers(),
            )
        return self._answer(response, request)

    async def _afetch(self, request: QuoteRequest) -> OptionQuote:
        with self._transport_errors():
            response = await self.async_http.get(
                f"/v1/quote/{request.underlying}",
                params=request.params(),
                headers=outgoing_headers(),
            )
        return self._answer(response, request)

    @contextmanager
    def _transport_errors(self) -> Iterator[None]:
        try:
            yield
        except httpx.TimeoutException as exc:
            raise QuoteUnavailable(self.name, f"timeout ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            raise QuoteUnavailable(self.name, f"transport error: {exc!r}"[:300]) from exc

    def _answer(self, response: httpx.Response, request: QuoteRequest) -> OptionQuote:
        """The usable quote in a provider's response, or the error that says why there is none."""
        if response.status_code in (400, 404, 422):
            rejection = _rejection(response)
            no_data = rejection.field == "as_of" or _is_no_data(response)
            if response.status_code == 404 and no_data:
                raise QuoteNoData(self.name, f"no data: {rejection.detail}"[:500])
            raise rejection
        if response.status_code != 200:
            raise QuoteUnavailable(self.name, f"HTTP {response.status_code}")
        return self._valid_quote(response, request)

    def _valid_quote(self, response: httpx.Response, request: QuoteRequest) -> OptionQuote:
        try:
            quote = OptionQuote.model_validate_json(response.content)
        except (ValueError, ValidationError) as exc:
            raise QuoteUnavailable(self.name, f"malformed quote: {exc}"[:300]) from exc
        problem = quote_problem(quote, request, self.max_quote_age, self.max_clock_skew)
        if problem and problem.startswith(STALE):
            raise QuoteNoData(self.name, problem)
        if problem:
            raise QuoteUnavailable(self.name, problem)
        return quote

    def close(self) -> None:
        self.http.close()

    async def aclose(self) -> None:
        self.http.close()
        await self.async_http.aclose()


def quote_problem(
    quote: OptionQuote, request: QuoteRequest, max_age: timedelta, max_skew: timedelta
) -> str | None:
    """Why a well-formed quote is still unusable for `request` (None when it is usable)."""
    for name, value in quote:
        if isinstance(value, float) and not math.isfinite(value):
            return f"non-finite {name} in quote"
    asked = (request.underlying.upper(), request.expiry, float(request.strike), request.option_type)
    got = (quote.underlying.upper(), quote.expiry, quote.strike, str(quote.option_type))
    if asked != got:
        return f"quote is for {got}, asked for {asked}"
    if quote.lot_size <= 0:
        return f"invalid lot size {quote.lot_size}"
    if quote.as_of.tzinfo is None:
        return "quote as_of has no time zone"
    if quote.as_of < latest_market_instant(request.as_of) - max_age:
        return f"{STALE}: as_of {quote.as_of.isoformat()} for {request.as_of.isoformat()}"
    if quote.as_of > request.as_of + max_skew:
        return f"quote from the future: as_of {quote.as_of.isoformat()}"
    return None


def latest_market_instant(instant: datetime) -> datetime:
    """The last moment at or before `instant` when the market was open: `instant` itself within a
    session, else 15:30 IST of the last regular session (a quote's age is measured from here, so
    an order at night or on a holiday takes the closing quote without calling it stale)."""
    local = instant.astimezone(IST)
    day = local.date()
    if is_trading_day(day, regular_only=True) and local.time() >= MARKET_OPEN:
        if local.time() <= MARKET_CLOSE:
            return instant
    else:
        day = previous_trading_day(day - timedelta(days=1))
    return datetime.combine(day, MARKET_CLOSE, tzinfo=IST)


def _is_no_data(response: httpx.Response) -> bool:
    """A market-data 404 of kind `no_data` (a live provider with nothing at this instant)."""
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("type") in ("/problems/no-data", "no_data")


def _rejection(response: httpx.Response) -> QuoteRejected:
    """Name the request field a provider's 4xx is about, from its `{"type", "detail"}` body."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    detail = str(body.get("detail", response.text) if isinstance(body, dict) else body)[:500]
    for error in body.get("errors", []) if isinstance(body, dict) else []:
        if isinstance(error, dict) and error.get("field") in _REQUEST_FIELDS:
            return QuoteRejected(str(error["field"]), detail, response.status_code)
    # Otherwise the field the message names first ("expiry 2025-12-09 is not listed; ...").
    lowered = detail.lower()
    found = [(lowered.find(name), name) for name in _REQUEST_FIELDS if name in lowered]
    name = min(found)[1] if found else "underlying"
    return QuoteRejected(name, detail, response.status_code)


class MarketDataClient:
    """Quotes from the first provider that gives a usable one, in order (primary, fallback)."""

    def __init__(self, providers: Sequence[MarketDataProvider]) -> None:
        if not providers:
            raise ValueError("at least one market-data provider is needed")
        self.providers = list(providers)

    @classmethod
    def from_settings(
        cls,
        settings: MarketDataClientSettings | None = None,
        *,
        transports: Mapping[str, httpx.BaseTransport] | None = None,
    ) -> MarketDataClient:
        """Build the primary (and fallback, when configured) providers; call once per process."""
        settings = settings or MarketDataClientSettings()
        transports = transports or {}
        urls = {PRIMARY: settings.primary_url, FALLBACK: settings.fallback_url}
        return cls(
            [
                MarketDataProvider(name, url, settings, transport=transports.get(name))
                for name, url in urls.items()
                if url
            ]
        )

    def capture_quote(
        self,
        request: QuoteRequest,
        *,
        refuse: Callable[[OptionQuote], str | None] | None = None,
    ) -> CapturedQuote:
        """The quote of the first provider that answers usably; `QuoteUnavailable` if none does.

        When every breaker is open, nobody would be asked: the providers are then tried anyway
        (`trial_fetch`), the one that last gave a usable quote first (the primary when none has),
        so a provider that came back serves this request instead of the next background probe.
        `refuse(quote)` may name a reason a well-formed quote is not wanted (the backfill refuses a
        market other than the trade's); the next provider is asked and no breaker counts it.
        """
        attempt = _Attempt(self.providers, refuse)
        for provider in attempt.order():
            try:
                if attempt.all_open:
                    quote = provider.trial_fetch(request)
                else:
                    quote = provider.fetch_quote(request)
            except QuoteUnavailable as exc:
                attempt.skipped.append(str(exc))
                continue
            if captured := attempt.accept(provider, quote):
                return captured
        raise attempt.failed()

    async def acapture_quote(
        self,
        request: QuoteRequest,
        *,
        refuse: Callable[[OptionQuote], str | None] | None = None,
    ) -> CapturedQuote:
        """`capture_quote` on the event loop: the same order, breakers and trials."""
        attempt = _Attempt(self.providers, refuse)
        for provider in attempt.order():
            try:
                if attempt.all_open:
                    quote = await provider.atrial_fetch(request)
                else:
                    quote = await provider.afetch_quote(request)
            except QuoteUnavailable as exc:
                attempt.skipped.append(str(exc))
                continue
            if captured := attempt.accept(provider, quote):
                return captured
        raise attempt.failed()

    def fetch_settlement(self, underlying: str, expiry: date) -> tuple[SettlementValue, str]:
        """The value `expiry` settles against and the provider (primary, fallback) that gave it.

        A 404 (not settled yet, or not in the provider's data) is `QuoteRejected`; when no
        provider answers at all, `QuoteUnavailable`.
        """
        skipped: list[str] = []
        for provider in self.providers:
            try:
                response = provider.http.get(
                    f"/v1/settlement/{underlying}",
                    params={"expiry": expiry.isoformat()},
                    headers=outgoing_headers(),
                    timeout=SETTLEMENT_TIMEOUT,
                )
            except httpx.HTTPError as exc:
                skipped.append(f"{provider.name}: transport error: {exc!r}"[:300])
                continue
            if response.status_code in (400, 404, 422):
                raise _rejection(response)
            try:
                response.raise_for_status()
                return SettlementValue.model_validate(response.json()), provider.name
            except (httpx.HTTPError, ValueError, ValidationError) as exc:
                skipped.append(f"{provider.name}: {exc}"[:300])
        raise QuoteUnavailable("all providers", "; ".join(skipped))

    async def afetch_settlement(self, underlying: str, expiry: date) -> tuple[SettlementValue, str]:
        """`fetch_settlement` for async callers (off the event loop)."""
        return await asyncio.to_thread(self.fetch_settlement, underlying, expiry)

    def breaker_states(self) -> dict[str, str]:
        """Each provider's circuit breaker state, e.g. `{"primary": "open", ...}`."""
        return {provider.name: provider.breaker_state for provider in self.providers}

    def close(self) -> None:
        for provider in self.providers:
            provider.close()

    async def aclose(self) -> None:
        for provider in self.providers:
            await provider.aclose()


class _Attempt:
    """One capture's walk over the providers: their order, what was skipped, the outcome."""

    def __init__(
        self,
        providers: Sequence[MarketDataProvider],
        refuse: Callable[[OptionQuote], str | None] | None,
    ) -> None:
        self.providers = providers
        self.refuse = refuse
        self.skipped: list[str] = []
        self.all_open = all(p.breaker_state != pybreaker.STATE_CLOSED for p in providers)
        if self.all_open:
            log.warning("every market-data circuit breaker is open: asking them anyway")

    def order(self) -> Sequence[MarketDataProvider]:
        """Configured order; when every breaker is open, the most recently successful first
        (never-successful ones after, in configured order)."""
        if not self.all_open:
            return self.providers
        return sorted(
            self.providers,
            key=lambda p: -p.last_success_at if p.last_success_at is not None else float("inf"),
        )

    def accept(self, provider: MarketDataProvider, quote: OptionQuote) -> CapturedQuote | None:
        """The captured quote, or None when `refuse` names a reason not to take it."""
        refused = self.refuse(quote) if self.refuse is not None else None
        if refused:
            self.skipped.append(f"{provider.name}: {refused}")
            return None
        CAPTURES.labels(provider.name).inc()
        if self.skipped:
            log.warning("quote served by %s after: %s", provider.name, "; ".join(self.skipped))
        return CapturedQuote(quote, provider.name, utcnow(), tuple(self.skipped))

    def failed(self) -> QuoteUnavailable:
        CAPTURES.labels(UNAVAILABLE).inc()
        return QuoteUnavailable("all providers", "; ".join(self.skipped))
