"""Request ids across the broker, and JSON logs for the worker and beat.

A task sent while an API request (or another task) is being served carries that request's id in
its `request_id` header; the worker sets it as the current request id while the task runs, so
every log line of the task and every call it makes upstream (`outgoing_headers`) carry the id of
the API call that queued it. Worker and beat log through `optrade.observability`.
"""

from __future__ import annotations

import logging
import sys
from contextvars import Token
from typing import Any

from celery.signals import before_task_publish, setup_logging, task_postrun, task_prerun

from optrade.observability import configure_logging, current_request_id, request_id_var
from optrade.settings import get_app_settings

REQUEST_ID_HEADER = "request_id"
_tokens: dict[str, Token[str | None]] = {}


@before_task_publish.connect
def _stamp_request_id(headers: dict[str, Any] | None = None, **_: Any) -> None:
    rid = current_request_id()
    if rid and headers is not None:
        headers.setdefault(REQUEST_ID_HEADER, rid)


def task_request_id(request: Any) -> str | None:
    """The request id a task message carries (a custom header is an attribute of the request)."""
    rid = getattr(request, REQUEST_ID_HEADER, None)
    if rid is None:
        rid = (getattr(request, "headers", None) or {}).get(REQUEST_ID_HEADER)
    return str(rid) if rid else None


@task_prerun.connect
def _enter_request(task_id: str = "", task: Any = None, **_: Any) -> None:
    rid = task_request_id(task.request) if task is not None else None
    _tokens[task_id] = request_id_var.set(rid or task_id)


@task_postrun.connect
def _leave_request(task_id: str = "", **_: Any) -> None:
    token = _tokens.pop(task_id, None)
    if token is not None:
        request_id_var.reset(token)


def process_role(argv: list[str]) -> str:
    return "quality-beat" if "beat" in argv else "quality-worker"


@setup_logging.connect
def _configure_logging(loglevel: Any = None, **_: Any) -> None:
    """Worker and beat log like the services (JSON with service and request id on stderr)."""
    settings = get_app_settings()
    level = logging.getLevelName(loglevel) if isinstance(loglevel, int) else loglevel
    configure_logging(process_role(sys.argv), level or settings.log_level, settings.log_json)
    logging.captureWarnings(True)  # Celery's start-up warnings become log lines like any other
