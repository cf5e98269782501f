"""One `httpx.AsyncClient` per live provider, and the upstream's status codes mapped once.

401/403 -> `ProviderAuthFailed`; 429 -> `RateLimitedUpstream` (the provider decides whether a
cached chain can be served instead); 5xx, transport errors, timeouts and bodies that are not a
JSON object -> `ProviderUnavailable`; other 4xx -> `UpstreamRejected` for the adapter to read.
Credentials travel in headers or the body the adapter builds; every message that could reach a
log or a caller is scrubbed of them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import httpx

from market_data_service.providers.live.errors import (
    DEFAULT_RETRY_AFTER,
    ProviderAuthFailed,
    ProviderRateLimited,
    ProviderUnavailable,
)

log = logging.getLogger(__name__)


class UpstreamRejected(Exception):
    """A 4xx other than 401/403/429: the upstream refused this request (the adapter decides)."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(f"HTTP {status_code}: {message}")
        self.status_code = status_code
        self.message = message


class UpstreamClient:
    """HTTP to one upstream with explicit timeouts; created and closed by the app's lifespan."""

    def __init__(
        self,
        provider: str,
        base_url: str,
        *,
        headers: dict[str, str] | None = None,
        secrets: Sequence[str] = (),
        connect_timeout: float = 2.0,
        read_timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.provider = provider
        self._secrets = [s for s in secrets if s]
        self.http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers=headers or {},
            timeout=httpx.Timeout(
                connect=connect_timeout, read=read_timeout, write=read_timeout, pool=read_timeout
            ),
            transport=transport,
        )

    def scrub(self, text: str) -> str:
        """`text` with every credential replaced by `***`."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The JSON object the upstream answered with 2xx, or the mapped error."""
        try:
            response = await self.http.request(method, path, params=params, json=json)
        except httpx.TimeoutException as exc:
            raise ProviderUnavailable(
                self.provider, f"timeout calling {path} ({type(exc).__name__})"
            ) from None
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(
                self.provider, f"transport error calling {path}: {type(exc).__name__}"
            ) from None
        return self._answer(path, response)

    def _answer(self, path: str, response: httpx.Response) -> dict[str, Any]:
        status = response.status_code
        if status < 400:
            return self._body(path, response)
        message = self.scrub(_message(response))  # read only on errors: a chain is large
        if status in (401, 403):
            raise ProviderAuthFailed(
                self.provider,
                f"{path} answered HTTP {status}: the upstream refused our credentials ({message})",
            )
        if status == 429:
            raise ProviderRateLimited(
                self.provider,
                f"{path} answered HTTP 429: rate limited ({message})",
                retry_after=_retry_after(response),
            )
        if status >= 500:
            raise ProviderUnavailable(self.provider, f"{path} answered HTTP {status} ({message})")
        raise UpstreamRejected(status, message)

    def _body(self, path: str, response: httpx.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            raise ProviderUnavailable(self.provider, f"{path} answered malformed JSON") from None
        if not isinstance(body, dict):
            raise ProviderUnavailable(self.provider, f"{path} answered JSON that is not an object")
        return body

    async def aclose(self) -> None:
        await self.http.aclose()


def _message(response: httpx.Response) -> str:
    """The upstream's error text (OpenAlgo `message`, Upstox `errors[].message`), shortened."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):  # Upstox
            return str(errors[0].get("message") or errors[0])[:200]
        if isinstance(errors, dict):  # OpenAlgo's optionchain: "Validation error" + the fields
            return f"{body.get('message', 'error')}: {errors}"[:300]
        if "message" in body:
            return str(body["message"])[:200]
    return str(body)[:200]


def _retry_after(response: httpx.Response) -> int:
    """Seconds to wait after a 429: the `Retry-After` header, OpenAlgo's `retry_after`, else 5."""
    candidates: list[Any] = [response.headers.get("Retry-After")]
    try:
        body = response.json()
        if isinstance(body, dict):
            candidates.append(body.get("retry_after"))
    except ValueError:
        pass
    for value in candidates:
        try:
            seconds = int(float(value))
        except (TypeError, ValueError):
            continue
        if seconds > 0:
            return seconds
    return DEFAULT_RETRY_AFTER
