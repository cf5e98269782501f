"""The shared app's answers to what escapes a route: still in the error shape, still with an id."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from optrade.app import build_app


@asynccontextmanager
async def _no_lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield


def _app() -> FastAPI:
    app = build_app(service="probe", title="probe", description="probe", lifespan=_no_lifespan)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("a bug, not an input")

    return app


def _get(app: FastAPI, *paths: str, **headers: str) -> list[httpx.Response]:
    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client:
            return [await client.get(path, headers=headers) for path in paths]

    return asyncio.run(run())


def test_an_unhandled_error_is_a_500_in_the_error_shape_with_the_request_id() -> None:
    (answer,) = _get(_app(), "/boom", **{"X-Request-ID": "trace-123"})
    assert answer.status_code == 500
    assert answer.headers["x-request-id"] == "trace-123"
    assert answer.json()["type"] == "/problems/internal-error"
    assert "a bug" not in answer.text  # the exception text stays in the log


def test_the_500_is_counted_in_the_metrics() -> None:
    metrics = _get(_app(), "/boom", "/metrics")[1].text
    assert 'route="/boom",service="probe",status="500"' in metrics


def test_domain_errors_carry_no_http_status_and_the_edge_maps_each_kind() -> None:
    """A background engine raises the same errors a route answers: the status lives in one
    table at the edge (`optrade.errors.HTTP_STATUS`), not on the exceptions."""
    from optrade.domain import errors as domain
    from optrade.errors import HTTP_STATUS, http_status

    kinds = [
        cls for cls in vars(domain).values()
        if isinstance(cls, type) and issubclass(cls, domain.DomainError)
    ]  # fmt: skip
    assert kinds and all(not hasattr(cls, "status_code") for cls in kinds)
    assert set(kinds) <= set(HTTP_STATUS)
    assert http_status(domain.InvalidInput("lots", "required")) == 422
    assert http_status(domain.Refused("market closed")) == 422
    assert http_status(domain.UpstreamUnavailable("down")) == 503

    class Narrower(domain.Conflict):
        type = "narrower"

    assert http_status(Narrower("x")) == 409  # a subclass answers as its nearest listed kind
