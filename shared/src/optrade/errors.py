"""The edge of the error family (`optrade.domain.errors`): RFC 9457 problem details by one handler.

Every 4xx/5xx body is `application/problem+json`: `type` (a URI reference `/problems/<kind>`,
each kind documented in docs/problems.md), `title` (the kind in words), `status`, `detail` (what
went wrong, naming the field and the reason) and, for invalid input, our extension
`errors: [{field, reason}]`. Every 503 carries `Retry-After`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from optrade.domain.errors import (
    Conflict,
    DomainError,
    InsufficientFunds,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    Refused,
    Unauthorized,
    Unsupported,
    UpstreamUnavailable,
)

__all__ = [
    "Conflict",
    "DomainError",
    "InsufficientFunds",
    "InvalidInput",
    "NotFound",
    "PayloadTooLarge",
    "Refused",
    "Unauthorized",
    "Unsupported",
    "UpstreamUnavailable",
    "error_response",
    "http_status",
    "install_error_handlers",
    "problem_response",
]

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "/problems/"
RETRY_AFTER_SECONDS = 1
# Kinds answered by the handlers below rather than by a DomainError subclass.
HTTP_KINDS = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


# The one place a domain error becomes an HTTP status: the first class of its MRO listed here.
HTTP_STATUS: dict[type[DomainError], int] = {
    NotFound: 404,
    Conflict: 409,
    InvalidInput: 422,
    InsufficientFunds: 422,
    Refused: 422,
    Unauthorized: 401,
    PayloadTooLarge: 413,
    UpstreamUnavailable: 503,
    Unsupported: 501,
    DomainError: 400,
}


def http_status(exc: DomainError) -> int:
    """The HTTP status that answers `exc` (its nearest listed class)."""
    for cls in type(exc).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]  # type: ignore[index]
    return 400


def problem_type(kind: str) -> str:
    """The problem type URI reference of a kind: `invalid_input` -> `/problems/invalid-input`."""
    return PROBLEM_BASE + kind.replace("_", "-")


def problem_title(kind: str) -> str:
    """The kind in words: `invalid_input` -> `Invalid input`."""
    return kind.replace("_", " ").capitalize()


def problem_body(kind: str, status: int, detail: str, **extra: Any) -> dict[str, Any]:
    """An RFC 9457 problem details object of `kind`."""
    return {
        "type": problem_type(kind),
        "title": problem_title(kind),
        "status": status,
        "detail": detail,
        **extra,
    }


def problem_response(
    kind: str,
    status: int,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem details response; a 503 always says when to retry."""
    all_headers = dict(headers or {})
    if status == 503:
        all_headers.setdefault("Retry-After", str(RETRY_AFTER_SECONDS))
    return JSONResponse(
        problem_body(kind, status, detail, **extra),
        status_code=status,
        headers=all_headers or None,
        media_type=PROBLEM_MEDIA_TYPE,
    )


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or ".".join(str(p) for p in loc)


def error_response(exc: DomainError) -> JSONResponse:
    """The wire answer for one error of the family (also used by middleware outside the app)."""
    status = http_status(exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return problem_response(exc.type, status, exc.detail, headers=headers, **exc.extra)


async def _domain_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return error_response(exc)


def _validation_issue(error: Mapping[str, Any]) -> dict[str, str]:
    """One `{"field", "reason"}` entry; a body that is not JSON at all is named `body`."""
    if error.get("type") == "json_invalid":
        # FastAPI puts the parser's character offset in `loc`; pydantic's own JSON parsing
        # says line and column in its message instead.
        loc = tuple(error.get("loc", ()))
        where = f" at character {loc[1]}" if len(loc) > 1 else ""
        cause = (error.get("ctx") or {}).get("error") or error.get("msg", "invalid JSON")
        return {"field": "body", "reason": f"malformed JSON{where}: {cause}"}
    return {
        "field": _field_name(tuple(error.get("loc", ()))),
        "reason": str(error.get("msg", "invalid")),
    }


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [_validation_issue(e) for e in exc.errors()]
    detail = "; ".join(f"{e['field']}: {e['reason']}" for e in errors) or "invalid request"
    return problem_response("invalid_input", 422, detail, errors=errors)


def _unparsable_body_reason(exc: StarletteHTTPException) -> str | None:
    """Why FastAPI could not parse a JSON body, when that is what this 400 says (else None).

    FastAPI answers a body its JSON parser raised on (invalid UTF-8, an integer of more digits
    than Python converts, nesting past the interpreter's recursion limit) with a bare 400 and the
    parser's exception as the cause; the client gets the reason and the field instead.
    """
    cause = exc.__cause__
    if exc.status_code != 400 or cause is None:
        return None
    if isinstance(cause, UnicodeDecodeError):
        return f"not valid UTF-8 at byte {cause.start}"
    if isinstance(cause, RecursionError):
        return "JSON nested too deeply"
    if isinstance(cause, ValueError):
        return f"unreadable JSON: {str(cause).splitlines()[0][:200]}"
    return None


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    body_reason = _unparsable_body_reason(exc)
    if body_reason is not None:
        return error_response(InvalidInput("body", body_reason))
    kind = HTTP_KINDS.get(exc.status_code, "http_error")
    return problem_response(kind, exc.status_code, str(exc.detail), headers=exc.headers)


def _is_out_of_range(exc: BaseException) -> bool:
    """A number the database column cannot hold (e.g. an id beyond 64 bits, or 32 on PostgreSQL)."""
    from sqlalchemy.exc import DataError, StatementError

    if isinstance(exc, OverflowError | DataError):
        return True
    return isinstance(exc, StatementError) and isinstance(exc.orig, OverflowError)


def _is_database_unavailable(exc: BaseException) -> bool:
    """The database is down, restarting, refusing connections or out of pool slots.

    Whatever the request was doing rolled back with its transaction, so the client may retry
    (with the same Idempotency-Key for an order).
    """
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    if isinstance(exc, OperationalError | InterfaceError | PoolTimeout):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


async def unexpected_error_response(request: Request, exc: Exception) -> JSONResponse:
    """The answer to an exception nothing else handled: 503, 422 or a logged 500."""
    if _is_database_unavailable(exc):
        log.warning(
            "database unavailable on %s %s: %s",
            request.method,
            request.url.path,
            str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
        )
        return problem_response(
            "database_unavailable",
            503,
            "the database cannot be reached right now and the request did not complete; "
            "retry shortly (with the same Idempotency-Key an order is never applied twice)",
        )
    if _is_out_of_range(exc):
        # Clients can send integers no column holds; that is their input, not our failure.
        # Which number is unknown here (the database refused the statement): name the request.
        return error_response(
            InvalidInput("request", "a number in the request is out of the accepted range")
        )
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response("internal_error", 500, "internal server error")


def install_error_handlers(app: FastAPI) -> None:
    """Answer the error family, validation errors and HTTP errors as problem details."""
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    # Handlers keyed on a class below Exception run inside the app's ExceptionMiddleware and end
    # the request there. The catch-all Exception handler runs in ServerErrorMiddleware, which
    # re-raises after answering, so uvicorn logs a traceback and drops the keep-alive connection
    # (the client's next request on it is reset): database outages and out-of-range numbers are
    # expected conditions, not crashes, and get the quiet path.
    from sqlalchemy.exc import SQLAlchemyError

    app.add_exception_handler(SQLAlchemyError, unexpected_error_response)
    app.add_exception_handler(OverflowError, unexpected_error_response)
    app.add_exception_handler(Exception, unexpected_error_response)
