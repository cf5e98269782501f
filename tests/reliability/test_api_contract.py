"""The contract every service's OpenAPI document states: problem details, operation ids, version.

Built in-process (no lifespan: the document and the routing need no database); the fuzz test
(test_openapi_fuzz.py) checks the running processes' answers against these documents.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from optrade.errors import HTTP_KINDS, DomainError, problem_type

ROOT = Path(__file__).resolve().parents[2]
DISTRIBUTIONS = {"market-data": "market-data-service", "order": "order-service",
                 "quality": "quality-service"}  # fmt: skip
# Every operation's id, written out: clients and generated SDKs call these, so a renamed Python
# function (or a new route without an explicit `operation_id`) fails here instead of changing the
# public API.
PLUMBING = {
    "GET /healthz": "getHealth",
    "GET /readyz": "getReadiness",
    "GET /metrics": "getMetrics",
}
OPERATION_IDS = {
    "market-data": PLUMBING | {
        "GET /v1/underlyings": "listUnderlyings",
        "GET /v1/chain/{underlying}": "getChain",
        "GET /v1/quote/{underlying}": "getQuote",
        "GET /v1/context/{underlying}": "getContext",
        "GET /v1/settlement/{underlying}": "getSettlement",
        "POST /v1/greeks": "computeGreeks",
        "GET /v1/replay/instants": "listInstants",
    },
    "order": PLUMBING | {
        "POST /v1/orders": "placeOrder",
        "GET /v1/orders": "listOrders",
        "GET /v1/orders/{order_id}": "getOrder",
        "PATCH /v1/orders/{order_id}": "modifyOrder",
        "POST /v1/orders/{order_id}/cancel": "cancelOrder",
        "PUT /v1/positions/{position_id}/exits": "setPositionExits",
        "POST /v1/engine/advance": "advanceEngine",
        "GET /v1/positions": "listPositions",
        "GET /v1/positions/{position_id}": "getPosition",
        "GET /v1/positions/{position_id}/trades": "listPositionTrades",
        "POST /v1/positions/{position_id}/close": "closePosition",
        "POST /v1/settlements/run": "runSettlement",
        "GET /v1/trades": "listTrades",
        "GET /v1/trades/{trade_id}": "getTrade",
        "GET /v1/trades/export": "exportTrades",
        "GET /v1/trades/export/manifest": "getExportManifest",
        "POST /v1/trades/backfill": "backfillSnapshots",
        "GET /v1/models/performance": "getModelPerformance",
        "GET /models": "getModelsPage",
        "GET /v1/accounts/{account}": "getAccount",
        "PUT /v1/accounts/{account}": "setAccountCapital",
        "GET /v1/accounts/{account}/equity": "getAccountEquity",
        "POST /v1/margins": "checkMargin",
    },
    "quality": PLUMBING | {
        "GET /quality/status": "getQualityStatus",
        "POST /quality/checks": "runQualityCheck",
        "POST /quality/backfills": "queueQualityBackfill",
        "GET /quality/runs": "listQualityRuns",
        "GET /quality/runs/{run_id}": "getQualityRun",
        "GET /quality/runs/{run_id}/trades": "exportQualityRunTrades",
        "GET /quality/dashboard": "getQualityDashboard",
    },
}  # fmt: skip


def _apps() -> dict[str, FastAPI]:
    from market_data_service.main import create_app as market_data_app
    from order_service.main import create_app as order_app
    from quality_service.main import create_app as quality_app

    return {"market-data": market_data_app(), "order": order_app(), "quality": quality_app()}


@pytest.fixture(scope="module")
def apps(database_url: str) -> Iterator[dict[str, FastAPI]]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATABASE_URL", database_url)
        yield _apps()


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield f"{method.upper()} {path}", operation


@pytest.mark.parametrize("service", list(DISTRIBUTIONS))
def test_every_operation_has_a_stable_unique_operation_id_and_the_package_version(
    apps: dict[str, FastAPI], service: str
) -> None:
    document = apps[service].openapi()
    assert document["info"]["version"] == metadata.version(DISTRIBUTIONS[service])
    ids = {label: operation["operationId"] for label, operation in _operations(document)}
    assert ids == OPERATION_IDS[service]
    assert len(set(ids.values())) == len(ids)
    assert all(re.fullmatch(r"[a-z]+(?:[A-Z][a-z]+)+", i) for i in ids.values()), ids
    # Explicit on every route, never derived from the Python function's name.
    implicit = [
        r.path for r in apps[service].routes
        if isinstance(r, APIRoute) and r.include_in_schema and not r.operation_id
    ]  # fmt: skip
    assert implicit == []


@pytest.mark.parametrize("service", list(DISTRIBUTIONS))
def test_every_error_response_is_documented_as_problem_details(
    apps: dict[str, FastAPI], service: str
) -> None:
    document = apps[service].openapi()
    problem = document["components"]["schemas"]["ProblemDetails"]
    assert {"type", "title", "status", "detail"} <= set(problem["required"])
    for label, operation in _operations(document):
        for code, response in operation["responses"].items():
            if code[0] in "45":
                content = response["content"]
                assert list(content) == ["application/problem+json"], (label, code)
                assert content["application/problem+json"]["schema"]["$ref"].endswith(
                    "/ProblemDetails"
                )
            if code == "503":
                assert "Retry-After" in response["headers"], label


@pytest.mark.parametrize("service", list(DISTRIBUTIONS))
def test_unknown_paths_and_methods_answer_problem_details(
    apps: dict[str, FastAPI], service: str
) -> None:
    with warnings.catch_warnings():  # starlette prefers httpx2, which is not installed
        warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
        from fastapi.testclient import TestClient
    client = TestClient(apps[service])  # no lifespan: routing alone answers these
    missing = client.get("/no/such/path")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json() == {
        "type": "/problems/not-found",
        "title": "Not found",
        "status": 404,
        "detail": "Not Found",
    }
    wrong_method = client.delete("/healthz")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["type"] == "/problems/method-not-allowed"


def _subclasses(cls: type[DomainError]) -> Iterator[type[DomainError]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_every_problem_type_is_documented(apps: dict[str, FastAPI]) -> None:
    documented = set(re.findall(r"`(/problems/[a-z-]+)`", (ROOT / "docs/problems.md").read_text()))
    kinds = {cls.type for cls in [DomainError, *_subclasses(DomainError)]}
    kinds |= set(HTTP_KINDS.values())
    kinds |= {"invalid_input", "database_unavailable", "internal_error", "not_ready", "http_error"}
    assert {problem_type(kind) for kind in kinds} <= documented
