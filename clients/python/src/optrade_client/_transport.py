"""Requests with retries: one policy for the sync and the async client.

Retried: 503 and 429 (after `Retry-After` when the server gives one, else an exponential
back-off), and transport failures (refused, reset, timed out). A mutating call carries an
`Idempotency-Key` generated once and sent unchanged on each of its retries, so a retry after a
lost answer never acts twice. The budget bounds both the attempts and the total time waited.
"""

from __future__ import annotations

import email.utils
import random
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from optrade_client.errors import ApiError, ServerUnreachable, api_error

RETRY_STATUSES = frozenset({429, 503})
SERVICES = ("order", "market-data", "quality")
DEFAULT_URLS = {
    "order": "http://127.0.0.1:8000",
    "market-data": "http://127.0.0.1:8001",
    "quality": "http://127.0.0.1:8003",
}


@dataclass(frozen=True)
class RetryPolicy:
    """How long to keep trying: at most `attempts` tries and `budget` seconds of waiting."""

    attempts: int = 6
    budget: float = 30.0
    backoff: float = 0.25
    max_backoff: float = 5.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds before try `attempt + 1`: the server's Retry-After, else jittered back-off."""
        if retry_after is not None:
            return max(0.0, retry_after)
        base = min(self.max_backoff, self.backoff * 2**attempt)
        return base * (0.5 + random.random() / 2)


def service_urls(
    base_url: str | Mapping[str, str] | None, defaults: Mapping[str, str] = DEFAULT_URLS
) -> dict[str, str]:
    """One URL per service: a single URL serves all, a mapping names each (the others from
    `defaults`), None = `defaults`."""
    if base_url is None:
        return dict(defaults)
    if isinstance(base_url, str):
        return {service: base_url.rstrip("/") for service in SERVICES}
    unknown = set(base_url) - set(SERVICES)
    if unknown:
        raise ValueError(f"unknown services {sorted(unknown)}; known: {', '.join(SERVICES)}")
    return {**defaults, **{k: v.rstrip("/") for k, v in base_url.items()}}


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The Retry-After header as seconds (delta-seconds or an HTTP date), None when absent."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def new_idempotency_key() -> str:
    return f"optrade-client-{uuid.uuid4()}"


def raise_for_problem(response: httpx.Response) -> None:
    """Raise the typed error of an error answer (problem details)."""
    if response.status_code < 400:
        return
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    raise api_error(response.status_code, body, response.text)


@dataclass
class Attempts:
    """The retry loop's state for one call."""

    policy: RetryPolicy
    started: float = 0.0
    attempt: int = 0

    def __post_init__(self) -> None:
        self.started = time.monotonic()

    def next_delay(self, retry_after: float | None) -> float | None:
        """Seconds to wait before the next try, or None when the budget is spent."""
        self.attempt += 1
        if self.attempt >= self.policy.attempts:
            return None
        delay = self.policy.delay(self.attempt - 1, retry_after)
        if time.monotonic() - self.started + delay > self.policy.budget:
            return None
        return delay


def give_up(last: httpx.Response | Exception, url: str) -> ApiError | ServerUnreachable:
    """The error to raise when no try succeeded; an unreachable server names the URL tried."""
    if isinstance(last, httpx.Response):
        try:
            body: Any = last.json()
        except ValueError:
            body = None
        return api_error(last.status_code, body, last.text)
    return ServerUnreachable(f"{url} ({type(last).__name__}: {last})", url)


def after_try(
    attempts: Attempts, outcome: httpx.Response | httpx.TransportError, url: str
) -> float | None:
    """One try's outcome, the same for both clients: None when `outcome` is the answer (a final
    error answer raised as its typed error), else the seconds to wait before the next try;
    raises when the budget is spent."""
    retry_after = None
    if isinstance(outcome, httpx.Response):
        if outcome.status_code not in RETRY_STATUSES:
            raise_for_problem(outcome)
            return None
        retry_after = retry_after_seconds(outcome)
    delay = attempts.next_delay(retry_after)
    if delay is None:
        raise give_up(outcome, url)
    return delay
