"""Domain rejections: what went wrong in trading terms, with no HTTP in them.

An application function, the order engine or a Celery task raises these; only the edge
(`optrade.errors`, one table) turns a kind into an HTTP status and a problem+json body, so a
background process can catch and log the same error a route answers.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """An error a client can act on; `type` names its kind (`/problems/<kind>` on the wire)."""

    type = "bad_request"

    def __init__(self, detail: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra or {}


class NotFound(DomainError):
    type = "not_found"


class Conflict(DomainError):
    type = "conflict"


class InvalidInput(DomainError):
    """A field of the request cannot be carried out: names the field and the reason."""

    type = "invalid_input"

    def __init__(self, field: str, reason: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(
            f"{field}: {reason}",
            extra={"errors": [{"field": field, "reason": reason}], **(extra or {})},
        )
        self.field = field
        self.reason = reason


class Refused(DomainError):
    """The venue refuses the request as asked (the market is closed, funds are short)."""

    type = "refused"


class InsufficientFunds(Refused):
    """An order whose fill would need more than the account's available funds (the premium and
    charges of a buy, the incremental margin of a sell): names both figures, in rupees."""

    type = "insufficient_funds"

    def __init__(self, account: str, required: str, available: str, what: str) -> None:
        super().__init__(
            f"account {account!r}: {what} needs {required}, {available} is available",
            extra={"account": account, "required": required, "available": available},
        )


class Unauthorized(DomainError):
    type = "unauthorized"


class PayloadTooLarge(DomainError):
    type = "payload_too_large"


class UpstreamUnavailable(DomainError):
    """A service this one depends on (market data, the database) did not answer."""

    type = "upstream_unavailable"


class Unsupported(DomainError):
    """Asked of a deployment that lacks what it takes (an optional package)."""

    type = "not_implemented"
