"""What a live upstream's trouble looks like to our callers.

- `NoData` (404, type `no_data`, field `as_of`): nothing to serve at this instant (a stale quote,
  an instant before any recording, a leg the upstream has no data for). A rejection of this
  request, not an outage: the order service's client tries the other instance and never counts it
  against this one's circuit breaker.
- `ProviderAuthFailed` (503, `provider_auth_failed`): the upstream refused our credentials
  (401/403). Shown on `/readyz` until a request succeeds again.
- `ProviderRateLimited` (503, `provider_rate_limited`, `Retry-After`): the upstream answered 429
  and no cached chain was young enough to serve instead.
- `ProviderUnavailable` (503, `provider_unavailable`, `Retry-After`): transport error, timeout,
  5xx, or a malformed / non-finite answer.
The message never contains a credential: only the provider, the path and the upstream's status.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse

from optrade.errors import NotFound, UpstreamUnavailable, http_status, problem_response

DEFAULT_RETRY_AFTER = 5


class NoData(NotFound):
    """No market data at the instant asked for; the request may succeed elsewhere or later."""

    type = "no_data"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, extra={"errors": [{"field": "as_of", "reason": detail}]})


class ProviderError(UpstreamUnavailable):
    """The live upstream could not answer; 503 with a `Retry-After`."""

    type = "provider_unavailable"

    def __init__(self, provider: str, detail: str, *, retry_after: int = DEFAULT_RETRY_AFTER):
        super().__init__(f"{provider}: {detail}", extra={"provider": provider})
        self.provider = provider
        self.retry_after = max(1, int(retry_after))


class ProviderUnavailable(ProviderError):
    type = "provider_unavailable"


class ProviderAuthFailed(ProviderError):
    type = "provider_auth_failed"


class ProviderRateLimited(ProviderError):
    type = "provider_rate_limited"


async def provider_error_handler(_: Request, exc: Exception) -> JSONResponse:
    """Problem details (with the `provider` member), status 503 and `Retry-After`."""
    assert isinstance(exc, ProviderError)
    return problem_response(
        exc.type,
        http_status(exc),
        exc.detail,
        headers={"Retry-After": str(exc.retry_after)},
        **exc.extra,
    )
