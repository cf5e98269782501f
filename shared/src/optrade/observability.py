"""Structured JSON logs with a request id, and Prometheus request metrics, for every service."""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from contextvars import ContextVar
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from pythonjsonlogger.json import JsonFormatter
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from optrade.errors import unexpected_error_response

REQUEST_ID_HEADER = "X-Request-ID"
request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
access_log = logging.getLogger("optrade.access")
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests served", ["service", "method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency",
    ["service", "method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

BUILD_INFO = Gauge(
    "optrade_build_info",
    "Always 1; the labels say which service and which version of the code this process runs",
    ["service", "version"],
)


def publish_build_info(service: str, version: str) -> None:
    """Set `optrade_build_info{service, version}` to 1 for this process."""
    BUILD_INFO.labels(service, version).set(1)


class _ContextFilter(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        record.request_id = request_id_var.get()
        return True


def configure_logging(service: str, level: str = "INFO", json_logs: bool = True) -> None:
    """Send every log line to stderr, as JSON carrying `service` and `request_id`."""
    handler = logging.StreamHandler(sys.stderr)
    fmt = "%(asctime)s %(levelname)s %(name)s %(service)s %(request_id)s %(message)s"
    formatter: logging.Formatter = (
        JsonFormatter(fmt, rename_fields={"levelname": "level", "asctime": "time"})
        if json_logs
        else logging.Formatter(fmt)
    )
    handler.setFormatter(formatter)
    handler.addFilter(_ContextFilter(service))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    # Access lines add nothing the metrics and our own lines do not already say.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)


def current_request_id() -> str | None:
    return request_id_var.get()


def outgoing_headers() -> dict[str, str]:
    """Headers that pass the current request id on to an upstream call."""
    rid = request_id_var.get()
    return {REQUEST_ID_HEADER: rid} if rid else {}


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class RequestContextMiddleware:
    """Accept or generate `X-Request-ID`, echo it, and record request count and latency."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Request(scope).headers.get(REQUEST_ID_HEADER, "")
        rid = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(rid)
        status = {"code": 500, "started": False}
        start = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                status["started"] = True
                message.setdefault("headers", [])
                message["headers"].append((REQUEST_ID_HEADER.lower().encode(), rid.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            if status["started"]:
                raise  # the client already has a status line; nothing better can be sent
            # Answered here, not by Starlette's outermost error middleware, so the 500 (or 503)
            # carries the request id like every other response.
            response = await unexpected_error_response(Request(scope), exc)
            await response(scope, receive, send_with_id)
        finally:
            route = _route_template(scope)
            method = scope.get("method", "GET")
            elapsed = time.perf_counter() - start
            HTTP_LATENCY.labels(self.service, method, route).observe(elapsed)
            HTTP_REQUESTS.labels(self.service, method, route, str(status["code"])).inc()
            # One line per request, carrying the request id, so a request can be followed
            # across services in the logs.
            access_log.info(
                "%s %s %s",
                method,
                scope.get("path", ""),
                status["code"],
                extra={"status": status["code"], "duration_ms": round(elapsed * 1000, 3)},
            )
            request_id_var.reset(token)


def metrics_response(_: Any = None) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
