"""Refuse request bodies that are too large or nested too deeply before anything parses them."""

from __future__ import annotations

import email.message
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from optrade.errors import DomainError, InvalidInput, PayloadTooLarge, error_response

# A JSON string (escapes included), a bracket or a colon: all the scanner needs to know how deep
# a document nests and under which top-level key. Numbers, literals and commas are skipped.
_JSON_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}:]')


class BodyLimitMiddleware:
    """Answer 413 for a body over `max_bytes` (declared or streamed) and 422 for one too deep.

    The body is read here, at most `max_bytes` of it, and handed on to the app unchanged, so the
    app never buffers or parses more than the cap. A declared `Content-Length` over the cap is
    refused without reading a byte.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, max_json_depth: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_json_depth = max_json_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            body = await self._read_body(scope, receive)
            if _is_json(scope):
                check_json_depth(body, self.max_json_depth)
        except DomainError as exc:
            await error_response(exc)(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            raise self._too_large(f"Content-Length {int(declared)}")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                raise self._too_large("the streamed body")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    def _too_large(self, what: str) -> PayloadTooLarge:
        return PayloadTooLarge(
            f"request body too large: {what} exceeds the limit of {self.max_bytes} bytes",
            extra={"errors": [{"field": "body", "reason": f"larger than {self.max_bytes} bytes"}]},
        )


def check_json_depth(body: bytes, max_depth: int) -> None:
    """Raise InvalidInput naming the top-level field (or `body`) when `body` nests too deeply."""
    if body.count(b"[") + body.count(b"{") <= max_depth:
        return  # cannot nest deeper than it has brackets: the common case costs two counts
    depth = 0
    top_key: bytes | None = None
    last_string: bytes | None = None
    for match in _JSON_TOKEN.finditer(body):
        token = match.group()
        if token in (b"{", b"["):
            depth += 1
            if depth > max_depth:
                field = top_key.decode(errors="replace") if top_key else "body"
                raise InvalidInput(field, f"JSON nested deeper than {max_depth} levels")
        elif token in (b"}", b"]"):
            depth -= 1
        elif token == b":":
            if depth == 1 and last_string is not None:
                top_key = last_string[1:-1]
        else:
            last_string = token


def _is_json(scope: Scope) -> bool:
    """What FastAPI would parse as JSON: no content type, `application/json` or `+json`."""
    content_type = _header(scope, b"content-type")
    if not content_type:
        return True
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1")).strip()
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives the app the body already read, then whatever the client sends next."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
