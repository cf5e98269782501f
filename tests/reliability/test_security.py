"""Security properties of the three services as real processes: API-key enforcement on every
mutating endpoint, the key never echoed back or logged, SQL-looking filter input treated as data."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import create_engine, inspect

from optrade.db.engine import normalize_url
from tests.conftest import TEST_API_KEY
from tests.reliability.conftest import Service

pytestmark = pytest.mark.slow

AUTH = {"Authorization": f"Bearer {TEST_API_KEY}"}
WRONG_KEYS = {
    "no key": {},
    "wrong key": {"Authorization": "Bearer wrong-key-0123456789abcdef"},
    "wrong scheme": {"Authorization": f"Basic {TEST_API_KEY}"},
}
MUTATING = {"post", "put", "patch", "delete"}
# POST routes that change nothing and so need no key: POST /v1/greeks is a stateless calculator
# (POST only because a batch of up to 10,000 items does not fit a query string), as open as the
# GET reads of the same service. Decided, documented in the market-data README, and pinned below.
STATELESS = {("market-data", "POST", "/v1/greeks")}


def _mutating(service: Service) -> list[tuple[str, str]]:
    doc = httpx.get(f"{service.url}/openapi.json", timeout=10).raise_for_status().json()
    return [
        (method.upper(), path)
        for path, item in doc["paths"].items()
        for method in item
        if method in MUTATING
    ]


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def test_every_service_documents_its_mutating_endpoints(services: dict[str, Service]) -> None:
    found = {name: _mutating(service) for name, service in services.items()}
    assert found["order"], found
    assert found["quality"], found


@pytest.mark.parametrize("service_name", ["market-data", "order", "quality"])
@pytest.mark.parametrize("credentials", list(WRONG_KEYS))
def test_mutating_endpoints_reject_a_missing_or_wrong_key(
    services: dict[str, Service], service_name: str, credentials: str
) -> None:
    service = services[service_name]
    unexpected = []
    for method, path in _mutating(service):
        answer = httpx.request(
            method,
            service.url + _concrete(path),
            headers=WRONG_KEYS[credentials],
            json={},
            timeout=30,
        )
        body = answer.json() if answer.headers.get("content-type", "").startswith("app") else {}
        ok = (
            answer.status_code == 401
            and isinstance(body.get("type"), str)
            and isinstance(body.get("detail"), str)
        )
        if not ok and (service_name, method, path) not in STATELESS:
            unexpected.append((method, path, answer.status_code, answer.text[:200]))
    assert not unexpected, unexpected


@pytest.mark.parametrize("credentials", list(WRONG_KEYS))
def test_the_greeks_calculator_needs_no_key_and_changes_nothing(
    services: dict[str, Service], credentials: str
) -> None:
    item = {"option_type": "CE", "spot": 100.0, "strike": 100.0, "t_years": 0.5, "rate": 0.05,
            "iv": 20.0}  # fmt: skip
    answer = httpx.post(
        services["market-data"].url + "/v1/greeks",
        json={"model": "bsm", "items": [item]},
        headers=WRONG_KEYS[credentials],
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["items"][0]["delta"] > 0.5


def test_the_key_never_appears_in_a_response_or_a_log(services: dict[str, Service]) -> None:
    for service in services.values():
        paths = ["/healthz", "/readyz", "/metrics", "/openapi.json"]
        answers = [httpx.get(service.url + p, headers=AUTH, timeout=30) for p in paths]
        for method, path in _mutating(service):
            for headers in [AUTH, *WRONG_KEYS.values()]:
                answers.append(
                    httpx.request(
                        method, service.url + _concrete(path), headers=headers, json={}, timeout=30
                    )
                )
        # A near-miss key (the real one plus a character) must not be echoed back either.
        answers.append(
            httpx.post(
                f"{service.url}/v1/orders",
                headers={"Authorization": f"Bearer {TEST_API_KEY}x"},
                json={},
                timeout=30,
            )
        )
        for answer in answers:
            assert TEST_API_KEY not in answer.text, (service.name, answer.request.url)
            for name, value in answer.headers.items():
                assert TEST_API_KEY not in value, (service.name, name)
    for service in services.values():
        assert service.log_path.exists()
        assert TEST_API_KEY not in service.log_path.read_text(errors="replace"), service.name


SQL_FILTERS = [
    ("/v1/trades", {"model_version": "' OR 1=1 --"}),
    ("/v1/trades", {"underlying": "NIFTY;DROP TABLE trade"}),
    ("/v1/trades", {"underlying": "x' OR '1'='1"}),
    ("/v1/trades", {"model_version": "1; DROP TABLE trade; --"}),
    ("/v1/positions", {"model_version": "' OR 1=1 --"}),
    ("/v1/positions", {"underlying": "NIFTY';DROP TABLE position;--"}),
    ("/v1/positions", {"status": "open' OR '1'='1"}),
    ("/v1/trades/export", {"model_version": "' UNION SELECT * FROM trade --"}),
]


def test_sql_looking_filters_are_treated_as_data(
    services: dict[str, Service], database_url: str
) -> None:
    engine = create_engine(normalize_url(database_url))
    try:
        tables_before = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert tables_before
    order = services["order"]
    for path, params in SQL_FILTERS:
        answer = httpx.get(order.url + path, params=params, headers=AUTH, timeout=30)
        assert answer.status_code in (200, 422), (path, params, answer.status_code, answer.text)
        if answer.status_code == 422:
            assert answer.json()["type"] == "/problems/invalid-input"
        elif path != "/v1/trades/export":
            body = answer.json()
            assert body["items"] == [] and body["total"] == 0, (path, params, body)
    engine = create_engine(normalize_url(database_url))
    try:
        assert set(inspect(engine).get_table_names()) == tables_before
    finally:
        engine.dispose()
