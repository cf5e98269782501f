"""One market-data service instance (a URL) behind its own pooled GET and circuit breaker.

A caller never waits on an instance whose breaker is open or half-open: it skips it, and once the
reset timeout has passed one background call (the skipped caller's own fetch, as a task on the
caller's event loop) tries the instance again, closing the breaker if it answers. pybreaker's own
half-open state would instead make the next callers, all of them, wait out the dead instance's
timeout once per reset timeout. When every breaker is open the client asks anyway through
`ask(..., trial=True)`, one trial per instance at a time.

Answers are classified here, the same for a quote, a chain and a settlement value: no answer
(timeout, refused, reset) and 5xx are `QuoteUnavailable`; a 404 about `as_of` or of kind
`/problems/no-data` is `QuoteNoData`; any other 400/404/422 is `QuoteRejected` naming the field.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import pybreaker
from prometheus_client import Counter, Gauge
from pydantic import BaseModel, ValidationError

from optrade.clients.async_http import AiohttpGetter, HttpAnswer, HttpTimeout, HttpTransportError
from optrade.clients.captures import ChainRequest, QuoteRequest, chain_problem, quote_problem
from optrade.clients.errors import QuoteNoData, QuoteRejected, QuoteUnavailable
from optrade.clients.freshness import STALE
from optrade.observability import outgoing_headers
from optrade.schemas.market import OptionChain, OptionQuote, ReplayInstants, SettlementValue

if TYPE_CHECKING:
    from optrade.clients.market_data import MarketDataClientSettings

log = logging.getLogger(__name__)
T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

PROVIDER_CALLS = Counter(
    "market_data_provider_calls_total",
    "Requests per market-data instance by outcome",
    ["provider", "outcome"],
)
BREAKER_STATE = Gauge(
    "market_data_breaker_state",
    "Circuit breaker state per market-data instance: 1 for the state it is in, 0 for the others",
    ["provider", "state"],
)
BREAKER_STATES = (pybreaker.STATE_CLOSED, pybreaker.STATE_HALF_OPEN, pybreaker.STATE_OPEN)
SETTLEMENT_TIMEOUT = 10.0  # seconds: a rare call that may parse a snapshot file; not a fill
# The request fields a provider's 4xx may be about, in the order a message is searched for them.
REQUEST_FIELDS = ("underlying", "expiry", "strike", "option_type", "as_of")


class _BreakerGauge(pybreaker.CircuitBreakerListener):
    def __init__(self, instance: str) -> None:
        self.instance = instance
        self._show(pybreaker.STATE_CLOSED)

    def _show(self, current: str) -> None:
        for state in BREAKER_STATES:
            BREAKER_STATE.labels(self.instance, state).set(1 if state == current else 0)

    def state_change(self, cb: pybreaker.CircuitBreaker, old_state: Any, new_state: Any) -> None:
        self._show(new_state.name)
        log.warning(
            "market-data %s circuit breaker %s -> %s",
            self.instance,
            getattr(old_state, "name", None),
            new_state.name,
        )


class MarketDataInstance:
    """One market-data service URL (the primary or the fallback instance) with its breaker."""

    def __init__(self, name: str, base_url: str, settings: MarketDataClientSettings) -> None:
        self.name = name
        self.base_url = base_url
        self.max_quote_age = timedelta(seconds=settings.max_quote_age)
        self.max_clock_skew = timedelta(seconds=settings.max_clock_skew)
        self.http = AiohttpGetter(
            base_url,
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
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
        self._probes: set[asyncio.Task[None]] = set()  # background probes in flight
        self.last_success_at: float | None = None  # time.monotonic() of the last usable answer

    @property
    def breaker_state(self) -> str:
        """`closed`, `open` or `half-open`."""
        return str(self.breaker.current_state)

    @property
    def is_closed(self) -> bool:
        return self.breaker.current_state == pybreaker.STATE_CLOSED

    async def ask(self, fetch: Callable[[], Awaitable[T]], *, trial: bool = False) -> T:
        """`fetch()` from this instance through its breaker, counted in the metrics.

        Unless `trial`, an instance whose breaker is not closed is skipped unasked (and a
        background probe repeats `fetch` once the reset timeout has passed). A `trial` asks it
        although its breaker is open: success closes the breaker, failure opens it again.
        """
        if trial:
            with self._trial():
                return await fetch()
        if not self.is_closed:
            self._probe_in_background(fetch)
            PROVIDER_CALLS.labels(self.name, "circuit_open").inc()
            raise QuoteUnavailable(self.name, "circuit breaker open, not asked")
        with self._guarded():
            return await fetch()

    async def get(
        self, path: str, params: dict[str, str], *, read_timeout: float | None = None
    ) -> HttpAnswer:
        """The 200 answer of `GET path`, or the classified error that says why there is none."""
        try:
            answer = await self.http.get(
                path, params=params, headers=outgoing_headers(), read_timeout=read_timeout
            )
        except HttpTimeout as exc:
            raise QuoteUnavailable(self.name, f"timeout ({exc.phase})") from exc
        except HttpTransportError as exc:
            raise QuoteUnavailable(self.name, f"transport error: {exc}"[:300]) from exc
        if answer.status in (400, 404, 422):
            rejection = rejection_of(answer)
            no_data = rejection.field == "as_of" or _is_no_data(answer)
            if answer.status == 404 and no_data:
                raise QuoteNoData(self.name, f"no data: {rejection.detail}"[:500])
            raise rejection
        if answer.status != 200:
            raise QuoteUnavailable(self.name, f"HTTP {answer.status}")
        return answer

    async def fetch_quote(self, request: QuoteRequest) -> OptionQuote:
        """The usable quote of `request`'s option at its instant (no breaker: see `ask`)."""
        answer = await self.get(f"/v1/quote/{request.underlying}", request.params())
        quote = self._parsed(OptionQuote, answer, "quote")
        self._check(quote_problem(quote, request, self.max_quote_age, self.max_clock_skew))
        return quote

    async def fetch_chain(self, request: ChainRequest) -> OptionChain:
        """The usable chain of `request`'s expiry at its instant (no breaker: see `ask`)."""
        answer = await self.get(f"/v1/chain/{request.underlying}", request.params())
        chain = self._parsed(OptionChain, answer, "chain")
        self._check(chain_problem(chain, request, self.max_quote_age, self.max_clock_skew))
        return chain

    async def fetch_settlement(self, underlying: str, expiry: date) -> SettlementValue:
        """The value `expiry` settles against (no breaker: see `ask`); it may take seconds to
        build from a snapshot file, so it may wait longer than a quote."""
        answer = await self.get(
            f"/v1/settlement/{underlying}",
            {"expiry": expiry.isoformat()},
            read_timeout=SETTLEMENT_TIMEOUT,
        )
        return self._parsed(SettlementValue, answer, "settlement value")

    async def fetch_replay_instants(
        self, underlying: str, start: datetime, end: datetime
    ) -> ReplayInstants:
        """The recorded instants of a replay market in [start, end] (no breaker: see `ask`)."""
        params = {"underlying": underlying, "from": start.isoformat(), "to": end.isoformat()}
        answer = await self.get("/v1/replay/instants", params)
        return self._parsed(ReplayInstants, answer, "replay instants")

    def _parsed(self, model: type[M], answer: HttpAnswer, what: str) -> M:
        """The answer as `model`, or `QuoteUnavailable` naming what was malformed."""
        try:
            return model.model_validate_json(answer.content)
        except (ValueError, ValidationError) as exc:
            raise QuoteUnavailable(self.name, f"malformed {what}: {exc}"[:300]) from exc

    def _check(self, problem: str | None) -> None:
        """Raise for a well-formed answer's problem: stale is no data, the rest a failure."""
        if problem and problem.startswith(STALE):
            raise QuoteNoData(self.name, problem)
        if problem:
            raise QuoteUnavailable(self.name, problem)

    @contextmanager
    def _trial(self) -> Iterator[None]:
        """A caller's guarded call that half-opens an open breaker first, one at a time."""
        if self.is_closed:
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

    def _probe_in_background(self, fetch: Callable[[], Awaitable[Any]]) -> None:
        now = time.monotonic()
        if now < self._next_probe_at or not self._probing.acquire(blocking=False):
            return
        self._next_probe_at = now + self.breaker.reset_timeout

        async def probe() -> None:
            try:
                with self._guarded():
                    await fetch()
            except (QuoteUnavailable, QuoteRejected):
                pass  # still dead: the breaker is open again, the next probe comes later
            finally:
                self._probing.release()

        task = asyncio.get_running_loop().create_task(
            probe(), name=f"market-data-{self.name}-probe"
        )
        self._probes.add(task)  # held until done: the loop keeps only a weak reference
        task.add_done_callback(self._probes.discard)

    @contextmanager
    def _guarded(self) -> Iterator[None]:
        """Count one call against the breaker and in the metrics."""
        try:
            # `calling()` runs the request outside the breaker's lock; `breaker.call` would hold
            # that lock for the whole HTTP round trip and serialize every caller of the instance.
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

    async def aclose(self) -> None:
        """Close this instance's connection pool on the running event loop."""
        await self.http.aclose()


def _is_no_data(answer: HttpAnswer) -> bool:
    """A market-data 404 of kind `no_data` (a live provider with nothing at this instant)."""
    try:
        body = answer.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("type") in ("/problems/no-data", "no_data")


def rejection_of(answer: HttpAnswer) -> QuoteRejected:
    """Name the request field a provider's 4xx is about, from its `{"type", "detail"}` body."""
    try:
        body = answer.json()
    except ValueError:
        body = {}
    detail = str(body.get("detail", answer.text) if isinstance(body, dict) else body)[:500]
    for error in body.get("errors", []) if isinstance(body, dict) else []:
        if isinstance(error, dict) and error.get("field") in REQUEST_FIELDS:
            return QuoteRejected(str(error["field"]), detail, answer.status)
    # Otherwise the field the message names first ("expiry 2025-12-09 is not listed; ...").
    lowered = detail.lower()
    found = [(lowered.find(name), name) for name in REQUEST_FIELDS if name in lowered]
    name = min(found)[1] if found else "underlying"
    return QuoteRejected(name, detail, answer.status)
