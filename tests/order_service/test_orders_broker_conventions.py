"""Broker conventions on the order service's wire: symbols, lots and units, orders by id.

In-process with fake market-data providers (lot size 75, as NIFTY's December-2025 contracts).
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine

from optrade.db.models import Position
from tests.order_service import test_orders_api
from tests.order_service.test_orders_api import AUTH, close, order
from tests.support.orders_fakes import EXPIRY, MARKET_AT, count_rows

# The in-process app and fake markets of the API tests, shared rather than built twice.
api = test_orders_api.api
markets = test_orders_api.markets
_healthy_markets = test_orders_api._healthy_markets

SYMBOL = "NIFTY02DEC2526100CE"  # EXPIRY, strike 26100, CE: the default order's contract
PARTS = ("underlying", "expiry", "strike", "option_type")


def place(api: Any, body: dict[str, Any], **headers: str) -> Any:
    return api.post("/v1/orders", json=body, headers={**AUTH, **headers})


def by_symbol(**overrides: Any) -> dict[str, Any]:
    """A Kite-style order: the contract as a symbol, without its parts."""
    body = order(quantity=None, **overrides)
    for part in PARTS:
        body.pop(part, None)
    return body


def test_positions_and_trades_carry_the_symbol_exchange_lots_and_units(api: Any) -> None:
    opened = place(api, order(quantity=None, lots=3))
    assert opened.status_code == 201, opened.text
    assert (opened.json()["symbol"], opened.json()["units"]) == (SYMBOL, 225)  # the order
    position = opened.json()["position"]
    assert (position["symbol"], position["exchange"]) == (SYMBOL, "NFO")
    assert (position["lots"], position["units"]) == (3, 225)
    assert (position["lots_open"], position["units_open"]) == (3, 225)
    closed = close(api, position["id"], {"lots": 1}).json()
    assert (closed["trade"]["symbol"], closed["trade"]["exchange"]) == (SYMBOL, "NFO")
    assert (closed["trade"]["lots"], closed["trade"]["units"]) == (1, 75)
    assert (closed["position"]["lots_open"], closed["position"]["units_open"]) == (2, 150)
    listed = api.get("/v1/trades", params={"limit": 1}).json()["items"][0]
    assert listed["symbol"] == SYMBOL and listed["units"] == 75


def test_a_kite_style_order_by_symbol_and_units_opens_whole_lots(api: Any) -> None:
    response = place(api, by_symbol(symbol=SYMBOL, exchange="NFO", units=150))
    assert response.status_code == 201, response.text
    position = response.json()
    assert (position["underlying"], position["expiry"]) == ("NIFTY", EXPIRY.isoformat())
    assert (position["strike"], position["option_type"]) == ("26100.00", "CE")
    assert (position["lots"], position["units"], position["lot_size"]) == (2, 150, 75)


def test_units_that_are_not_whole_lots_are_422_naming_the_lot_size(
    api: Any, engine: Engine
) -> None:
    before = count_rows(engine, Position)
    response = place(api, by_symbol(symbol=SYMBOL, units=100))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "/problems/invalid-input" and problem["status"] == 422
    assert problem["errors"][0]["field"] == "units" and "lot size 75" in problem["detail"]
    assert count_rows(engine, Position) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"symbol": SYMBOL, "strike": 26150}, "strike"),  # both given and disagreeing
        ({"symbol": SYMBOL, "option_type": "PE"}, "option_type"),
        ({"symbol": SYMBOL, "expiry": "2025-12-09"}, "expiry"),
        ({"symbol": "NIFTY02DEC2526100XX"}, "symbol"),
        ({"lots": 2, "units": 150}, "units"),  # one size, not two
        ({"lots": 2, "quantity": 3}, "quantity"),
        ({}, "lots"),  # no size at all
    ],
)
def test_contradicting_or_missing_forms_are_422_naming_the_field(
    api: Any, body: dict[str, Any], field: str
) -> None:
    response = place(api, order(**{"quantity": None, **body}))
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == field


def test_a_symbol_agreeing_with_the_parts_is_the_same_order_for_idempotency(api: Any) -> None:
    first = place(api, order(), **{"Idempotency-Key": "same-order-two-spellings"})
    again = place(
        api,
        by_symbol(symbol=SYMBOL, lots=2),
        **{"Idempotency-Key": "same-order-two-spellings"},
    )
    assert first.status_code == 201 and again.status_code == 201, again.text
    assert again.json()["id"] == first.json()["id"]
    assert again.headers.get("Idempotent-Replayed") == "true"


def test_a_close_in_units_must_be_whole_lots(api: Any) -> None:
    position = place(api, order(quantity=None, lots=4)).json()["position"]
    refused = close(api, position["id"], {"units": 80})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "units"
    assert "lot size 75" in refused.json()["detail"]
    closed = close(api, position["id"], {"units": 150})
    assert closed.status_code == 200, closed.text
    assert (closed.json()["trade"]["lots"], closed.json()["position"]["lots_open"]) == (2, 2)


def test_an_order_is_found_by_id_and_by_client_order_id(api: Any) -> None:
    placed = place(api, order(client_order_id="engine-7-0001")).json()
    by_id = api.get(f"/v1/orders/{placed['id']}")
    assert by_id.status_code == 200 and by_id.json()["symbol"] == SYMBOL
    assert by_id.json()["position"]["id"] == placed["position_id"]
    found = api.get("/v1/orders", params={"client_order_id": "engine-7-0001"})
    assert found.status_code == 200 and [o["id"] for o in found.json()["items"]] == [placed["id"]]
    assert found.json()["items"][0]["client_order_id"] == "engine-7-0001"
    missing = api.get("/v1/orders", params={"client_order_id": "never-sent"})
    assert missing.status_code == 200 and missing.json() == {
        "items": [], "total": 0, "limit": 50, "offset": 0
    }  # fmt: skip
    absent = api.get("/v1/orders/999999999")
    assert absent.status_code == 404 and "order 999999999" in absent.json()["detail"]
    assert absent.headers["content-type"] == "application/problem+json"


def test_listing_windows_read_dates_and_naive_times_as_ist(api: Any) -> None:
    place(api, order(as_of=MARKET_AT.isoformat()))  # 10:00 IST on 01-Dec-2025
    naive = api.get("/v1/positions", params={"from": "2025-12-01T10:00:00", "to": "2025-12-02"})
    offset = api.get(
        "/v1/positions",
        params={"from": "2025-12-01T04:30:00+00:00", "to": "2025-12-01T18:30:00Z"},
    )
    assert naive.status_code == offset.status_code == 200
    assert naive.json()["total"] == offset.json()["total"] >= 1
    after = api.get("/v1/positions", params={"from": "2025-12-01T10:00:01"})
    assert after.json()["total"] < naive.json()["total"]
    reversed_range = api.get("/v1/trades", params={"from": "2025-12-02", "to": "2025-12-01"})
    assert reversed_range.status_code == 422
    assert reversed_range.json()["errors"][0]["field"] == "to"


def test_the_deprecated_quantity_still_works_and_says_it_is_deprecated(api: Any) -> None:
    old = place(api, order(quantity=2))
    assert old.status_code == 201 and old.json()["lots"] == 2
    assert old.headers["Deprecation"] == "@1796083200"  # RFC 9745: since 2026-12-01
    new = place(api, order(quantity=None, lots=2))
    assert "Deprecation" not in new.headers
    closed = close(api, old.json()["position_id"], {"quantity": 1})
    assert closed.status_code == 200 and closed.json()["trade"]["lots"] == 1
    assert closed.headers["Deprecation"] == "@1796083200"
