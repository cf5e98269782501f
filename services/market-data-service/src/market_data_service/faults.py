"""Fault injection for tests of the callers' fallback (`MARKET_DATA_FAULT`); never in production.

Applies to `/v1/quote/...` and `/v1/context/...` only (/healthz stays green while data is bad):
- `error500`: 500 with a JSON error body.
- `garbage`: 200, `application/json`, a truncated (malformed) JSON body.
- `nan`: the real answer with NaN (a bare `NaN` token) in iv and Greeks (quote) or spot, VIX and
  PCR (context).
- `stale`: the real answer with `as_of` moved `STALE_BY` into the past.
- `hang`: never answers: holds the request until the client disconnects (or
  `MARKET_DATA_HANG_SECONDS`, then 503).
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from typing import Any

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

FAULTY_PATHS = ("/v1/quote/", "/v1/context/")
STALE_BY = timedelta(hours=6)
GARBAGE = b'{"underlying": "NIFTY", "spot": 26122.6, "delta": 0.5'
_CONTEXT_NAN_FIELDS = ("spot", "vix", "pcr")
_QUOTE_NAN_FIELDS = ("iv", "delta", "gamma", "theta", "vega", "rho")


class FaultInjectionMiddleware:
    """Make the quote and context routes misbehave the way `mode` says."""

    def __init__(self, app: ASGIApp, mode: str, hang_seconds: float = 300.0) -> None:
        self.app = app
        self.mode = mode
        self.hang_seconds = hang_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(FAULTY_PATHS):
            await self.app(scope, receive, send)
            return
        if self.mode == "error500":
            body = {"type": "injected_fault", "detail": "MARKET_DATA_FAULT=error500"}
            await _send(send, 500, json.dumps(body).encode())
        elif self.mode == "garbage":
            await _send(send, 200, GARBAGE)
        elif self.mode == "hang":
            if not await _wait_for_disconnect(receive, self.hang_seconds):
                await _send(send, 503, b'{"type": "injected_fault", "detail": "hung"}')
        else:
            await self._rewrite(scope, receive, send)

    async def _rewrite(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the real route, then damage its 200 answer (`nan` or `stale`)."""
        start: Message = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        body = b"".join(chunks)
        status = int(start.get("status", 500))
        if status == 200:
            body = damage(json.loads(body), self.mode, quote="/quote/" in scope["path"])
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def damage(payload: dict[str, Any], mode: str, *, quote: bool) -> bytes:
    """The answer with NaN numbers (`nan`) or an `as_of` hours old (`stale`)."""
    if mode == "nan":
        for field in _QUOTE_NAN_FIELDS if quote else _CONTEXT_NAN_FIELDS:
            payload[field] = math.nan
    elif mode == "stale" and isinstance(payload.get("as_of"), str):
        as_of = datetime.fromisoformat(payload["as_of"])
        payload["as_of"] = (as_of - STALE_BY).isoformat()
    return json.dumps(payload, allow_nan=True).encode()


async def _send(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _wait_for_disconnect(receive: Receive, seconds: float) -> bool:
    """True when the client went away within `seconds`."""
    with anyio.move_on_after(seconds):
        while True:
            if (await receive())["type"] == "http.disconnect":
                return True
    return False
