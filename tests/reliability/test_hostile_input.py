"""Hostile request bodies against the three services as real processes: never a 500.

Too large (declared or streamed), too deep, malformed, not UTF-8, numbers Python will not convert,
the wrong content type: each gets a 4xx in the documented error shape naming `body` or the field,
and every answer carries an `X-Request-ID`.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from market_data_service.api.calculator import MAX_BODY_BYTES as CALCULATOR_MAX_BODY_BYTES
from tests.conftest import TEST_API_KEY
from tests.reliability.conftest import Service
from tests.support.orders_processes import listed_option, order_body

pytestmark = pytest.mark.slow

AUTH = {"Authorization": f"Bearer {TEST_API_KEY}"}
MIB = 1024 * 1024
# One mutating JSON endpoint per service: the body limits sit in front of every route.
ENDPOINTS = {
    "market-data": "/v1/greeks",
    "order": "/v1/orders",
    "quality": "/quality/checks",
}
# The body cap of each service: the default, and market data's larger one for its batch calculator.
CAP = {"market-data": CALCULATOR_MAX_BODY_BYTES, "order": MIB, "quality": MIB}
# The quality service takes no JSON body (only query parameters), so only the limits in front of
# every route apply to it; the parsing cases ask the services that parse a body.
PARSING = ["market-data", "order"]


def _post(service: Service, content: bytes | Iterator[bytes], **headers: str) -> httpx.Response:
    return httpx.post(
        service.url + ENDPOINTS[service.name],
        content=content,
        headers={**AUTH, "Content-Type": "application/json", **headers},
        timeout=30,
    )


def _assert_refused(answer: httpx.Response, status: int, field: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text[:500]
    assert answer.headers.get("x-request-id"), answer.headers
    body = answer.json()
    assert isinstance(body["detail"], str) and body["detail"], body
    assert [e["field"] for e in body["errors"]] == [field], body
    return body


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("service_name", PARSING)
def test_malformed_json_names_the_body_and_where(
    services: dict[str, Service], service_name: str
) -> None:
    answer = _post(services[service_name], b'{"underlying": "NIFTY",, }')
    body = _assert_refused(answer, 422, "body")
    reason = body["errors"][0]["reason"]
    assert reason.startswith("malformed JSON"), body
    assert "character 23" in reason or "column 24" in reason, body


@pytest.mark.parametrize("service_name", list(ENDPOINTS))
@pytest.mark.parametrize("depth", [100, 5000])
def test_a_body_nested_too_deeply_is_refused_naming_the_body(
    services: dict[str, Service], service_name: str, depth: int
) -> None:
    answer = _post(services[service_name], _nested(depth).encode())
    body = _assert_refused(answer, 422, "body")
    assert "nested deeper than" in body["errors"][0]["reason"], body


def test_deep_features_snapshot_is_a_422_naming_it(services: dict[str, Service]) -> None:
    """Once a 500 (`Maximum serialization depth exceeded`) at 256 levels."""
    order = services["order"]
    option = listed_option(services["market-data"].url)
    deep: Any = {"leaf": 1.0}
    for _ in range(256):
        deep = {"nested": deep}
    answer = _post(order, json.dumps(order_body(option, features_snapshot=deep)).encode())
    _assert_refused(answer, 422, "features_snapshot")


def test_features_snapshot_deeper_than_the_limit_but_compact_is_refused_by_the_model(
    services: dict[str, Service],
) -> None:
    """The model checks depth too, not only the body scanner: 40 levels of lists, few bytes."""
    option = listed_option(services["market-data"].url)
    deep: Any = [1]
    for _ in range(40):
        deep = [deep]
    answer = _post(
        services["order"], json.dumps(order_body(option, features_snapshot={"x": deep})).encode()
    )
    _assert_refused(answer, 422, "features_snapshot")


@pytest.mark.parametrize("service_name", list(ENDPOINTS))
def test_a_declared_body_over_the_cap_is_refused_before_it_is_sent(
    services: dict[str, Service], service_name: str
) -> None:
    """Content-Length says twice the cap and no byte follows: the 413 comes without waiting."""
    url = urlsplit(services[service_name].url)
    request = (
        f"POST {ENDPOINTS[service_name]} HTTP/1.1\r\nHost: {url.netloc}\r\n"
        f"Authorization: Bearer {TEST_API_KEY}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {2 * CAP[service_name]}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection((url.hostname, url.port), timeout=20) as sock:
        sock.sendall(request)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    head, _, payload = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), reply[:300]
    assert b"x-request-id:" in head.lower(), head
    assert json.loads(payload)["errors"][0]["field"] == "body"


@pytest.mark.parametrize("service_name", list(ENDPOINTS))
def test_a_streamed_body_over_the_cap_is_refused(
    services: dict[str, Service], service_name: str
) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"pad": "'
        for _ in range(CAP[service_name] // (MIB // 4) + 4):  # a MiB past the cap
            yield b"x" * (MIB // 4)

    _assert_refused(_post(services[service_name], chunks()), 413, "body")


def test_a_large_body_under_the_cap_still_reaches_the_route(services: dict[str, Service]) -> None:
    """900 KiB of valid JSON passes the cap; the order model's own 64 KiB feature limit answers."""
    option = listed_option(services["market-data"].url)
    features = {f"f{i}": "x" * 1800 for i in range(480)}
    content = json.dumps(order_body(option, features_snapshot=features)).encode()
    assert 800 * 1024 < len(content) < MIB
    body = _assert_refused(_post(services["order"], content), 422, "features_snapshot")
    assert "bytes serialized" in body["errors"][0]["reason"]


@pytest.mark.parametrize("service_name", PARSING)
def test_a_body_that_is_not_utf8_names_the_body(
    services: dict[str, Service], service_name: str
) -> None:
    answer = _post(services[service_name], b'{"underlying": "\xff\xfe"}')
    body = _assert_refused(answer, 422, "body")
    reason = body["errors"][0]["reason"]
    assert "UTF-8" in reason or "unicode" in reason, body


def test_an_integer_too_long_to_convert_names_the_body(services: dict[str, Service]) -> None:
    option = listed_option(services["market-data"].url)
    content = json.dumps(order_body(option, strike="STRIKE")).replace('"STRIKE"', "9" * 5000)
    _assert_refused(_post(services["order"], content.encode()), 422, "body")


@pytest.mark.parametrize("number", ["1e400", "-1e400", "1" + "0" * 400])
def test_huge_numbers_in_fields_name_the_field(services: dict[str, Service], number: str) -> None:
    option = listed_option(services["market-data"].url)
    content = json.dumps(order_body(option, ml_score="SCORE")).replace('"SCORE"', number)
    _assert_refused(_post(services["order"], content.encode()), 422, "ml_score")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_the_wrong_content_type_is_a_4xx_naming_the_body(
    services: dict[str, Service], content_type: str
) -> None:
    option = listed_option(services["market-data"].url)
    content = json.dumps(order_body(option)).encode()
    answer = _post(services["order"], content, **{"Content-Type": content_type})
    _assert_refused(answer, 422, "body")


@pytest.mark.parametrize("service_name", list(ENDPOINTS))
def test_the_service_still_serves_after_the_hostile_bodies(
    services: dict[str, Service], service_name: str
) -> None:
    answer = httpx.get(services[service_name].url + "/readyz", timeout=30)
    assert answer.status_code in (200, 503)
    assert answer.headers.get("x-request-id")
