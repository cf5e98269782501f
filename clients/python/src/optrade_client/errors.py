"""Typed exceptions carrying the server's RFC 9457 problem details."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FieldError:
    """One invalid field of a request, as the server named it."""

    field: str
    reason: str


class OptradeError(Exception):
    """Anything this client raises."""


class ServerUnreachable(OptradeError):
    """No answer from the service (connection refused, reset or timed out) within the budget;
    `url` is the address that was tried."""

    def __init__(self, message: str, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url


@dataclass
class ApiError(OptradeError):
    """The service answered with an error (problem details)."""

    status: int
    type: str
    title: str
    detail: str
    errors: list[FieldError] = field(default_factory=list)
    body: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status} {self.title}: {self.detail}"

    @property
    def field(self) -> str | None:
        """The first invalid field, if the server named one."""
        return self.errors[0].field if self.errors else None

    @property
    def reason(self) -> str | None:
        return self.errors[0].reason if self.errors else None


class InvalidInput(ApiError):
    """422: a field is missing, malformed or contradicts another (see `errors`)."""


class Unauthorized(ApiError):
    """401: missing or wrong API key."""


class NotFound(ApiError):
    """404: no such position, trade, order, run or contract."""


class Conflict(ApiError):
    """409: already closed, fewer lots open, or nothing to fill at."""


class Unavailable(ApiError):
    """503 or 429 still answered after the retry budget was spent."""


class ServerError(ApiError):
    """500 or another unexpected status: a bug on the server."""


_BY_STATUS: dict[int, type[ApiError]] = {
    401: Unauthorized,
    404: NotFound,
    409: Conflict,
    422: InvalidInput,
    429: Unavailable,
    503: Unavailable,
}


def api_error(status: int, body: Any, text: str = "") -> ApiError:
    """The exception for an error answer; a body that is not problem details still gives one."""
    problem = body if isinstance(body, dict) else {}
    errors = [
        FieldError(str(e.get("field", "")), str(e.get("reason", "")))
        for e in problem.get("errors") or []
        if isinstance(e, dict)
    ]
    cls = _BY_STATUS.get(status, ServerError if status >= 500 else ApiError)
    return cls(
        status=status,
        type=str(problem.get("type", "about:blank")),
        title=str(problem.get("title", "")),
        detail=str(problem.get("detail", text[:500])),
        errors=errors,
        body=problem,
    )
