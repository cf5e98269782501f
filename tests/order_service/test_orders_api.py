"""The order service's HTTP API in-process (fake market-data providers, the test database)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from optrade.db.models import Order, Position, Trade, carried_trade_fields
from optrade.domain import METADATA_FIELDS
from optrade.settings import reset_all_settings
from order_service.api.deps import clock, order_settings
from order_service.main import create_app
from order_service.schemas import OrderPublic, PositionPublic, TradePublic
from order_service.settings import OrderSettings
from tests.conftest import TEST_API_KEY
from tests.support.orders_fakes import (
    EXPIRY,
    MARKET_AT,
    FakeMarket,
    count_rows,
    fake_client,
    in_process_client,
)

AUTH = {"Authorization": f"Bearer {TEST_API_KEY}"}


def order(**overrides: Any) -> dict[str, Any]:
    body = {
        "underlying": "NIFTY",
        "expiry": EXPIRY.isoformat(),
        "strike": 26100,
        "option_type": "CE",
        "side": "BUY",
        "quantity": 2,
        "ml_score": 0.81,
        "model_version": "v2.3.1",
        "model_hash": "9f2c4e1a" * 8,
        "features_snapshot": {"rsi": 61.2, "iv_rank": 0.4, "regime": "trend"},
        "as_of": MARKET_AT.isoformat(),
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


@pytest.fixture(scope="module")
def markets() -> tuple[FakeMarket, FakeMarket]:
    return FakeMarket(), FakeMarket()


@pytest.fixture(scope="module")
def api(database_url: str, markets: tuple[FakeMarket, FakeMarket]) -> Iterator[Any]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATABASE_URL", database_url)
        reset_all_settings()
        # A breaker that never opens, so one test's dead provider does not leak into the next.
        with (
            fake_client(*markets, breaker_fail_max=10_000) as market_data,
            in_process_client(create_app(market_data=market_data)) as client,
        ):
            yield client


@pytest.fixture(autouse=True)
def _healthy_markets(markets: tuple[FakeMarket, FakeMarket], api: Any) -> Iterator[None]:
    for market in markets:
        market.mode, market.quote = "ok", {}
    api.app.dependency_overrides.clear()
    yield


def open_position(api: Any, **overrides: Any) -> dict[str, Any]:
    response = api.post("/v1/orders", json=order(**overrides), headers=AUTH)
    assert response.status_code == 201, response.text
    return dict(response.json()["position"])


def close(api: Any, position_id: int, body: dict[str, Any] | None = None, **headers: str) -> Any:
    payload = {"as_of": MARKET_AT.isoformat(), **(body or {})}
    return api.post(f"/v1/positions/{position_id}/close", json=payload, headers={**AUTH, **headers})


# --- opening ----------------------------------------------------------------------------------


def test_open_fills_a_buy_at_the_ask_with_a_full_entry_snapshot(api: Any) -> None:
    position = open_position(api)
    assert position["entry_price"] == "100.10" and position["entry_price_source"] == "ask"
    assert position["entry_spread"] == "0.10" and position["lot_size"] == 75
    assert position["lots"] == position["quantity_open"] == 2 and position["status"] == "open"
    assert position["opened_at"] == "2025-12-01T04:30:00Z"
    empty = [k for k, v in position.items() if k.startswith("entry_") and v is None]
    assert empty == ["entry_error"]
    assert position["entry_provider"] == "fake" and position["entry_instance"] == "primary"
    assert position["entry_broker_iv"] == 11.9 and position["entry_upstream_at"] is not None
    assert position["entry_source"] == "primary"
    for name in METADATA_FIELDS:
        assert position[name] == order()[name] or name == "model_hash"
    assert position["model_hash"] == "9f2c4e1a" * 8


def test_open_sell_fills_at_the_bid(api: Any) -> None:
    position = open_position(api, side="SELL")
    assert (position["entry_price"], position["entry_price_source"]) == ("100.00", "bid")


def test_open_without_an_ask_fills_at_the_last_price(api: Any, markets: Any) -> None:
    markets[0].quote = {"ask": None, "ltp": 101.25}
    position = open_position(api)
    assert (position["entry_price"], position["entry_price_source"]) == ("101.25", "ltp")


def test_open_records_the_fallback_when_the_primary_fails(api: Any, markets: Any) -> None:
    markets[0].mode = "garbage"
    position = open_position(api)
    assert position["entry_source"] == "fallback"
    assert position["entry_error"].startswith("skipped primary: malformed quote")


def test_open_with_no_provider_answering_is_503_and_writes_nothing(
    api: Any, markets: Any, engine: Engine
) -> None:
    markets[0].mode, markets[1].mode = "down", "error500"
    before = count_rows(engine, Position)
    response = api.post("/v1/orders", json=order(), headers={**AUTH, "Idempotency-Key": "dead-1"})
    assert response.status_code == 503, response.text
    assert response.json()["type"] == "/problems/upstream-unavailable"
    assert count_rows(engine, Position) == before


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"strike": 26125}, "strike"),
        ({"expiry": "2025-12-03"}, "expiry"),
        ({"underlying": "NOPE"}, "underlying"),
        ({"as_of": "2025-12-03T04:30:00+00:00"}, "expiry"),  # the day after the expiry
        ({"as_of": "2099-01-01T00:00:00+00:00"}, "as_of"),
        ({"as_of": "2025-12-01T25:00:00"}, "as_of"),  # no such hour (naive times are IST)
        ({"quantity": 0}, "quantity"),
        ({"quantity": 1.5}, "quantity"),
        ({"quantity": "2"}, "quantity"),
        ({"option_type": "XX"}, "option_type"),
        ({"side": "HOLD"}, "side"),
        ({"ml_score": 1.5}, "ml_score"),
        ({"ml_score": -0.01}, "ml_score"),
        ({"model_hash": "not-hex!"}, "model_hash"),
        ({"model_hash": "abc12"}, "model_hash"),
        ({"model_hash": "a" * 129}, "model_hash"),
        ({"model_version": "v" * 65}, "model_version"),
        ({"features_snapshot": [1, 2]}, "features_snapshot"),
        ({"features_snapshot": {}}, "features_snapshot"),
        ({"features_snapshot": {f"f{i}": i for i in range(501)}}, "features_snapshot"),
        ({"features_snapshot": {"blob": "x" * 70_000}}, "features_snapshot"),
        ({"client_order_id": "c" * 201}, "client_order_id"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_invalid_orders_are_422_naming_the_field(
    api: Any, engine: Engine, overrides: dict[str, Any], field: str
) -> None:
    before = count_rows(engine, Position)
    response = api.post("/v1/orders", json=order(**overrides), headers=AUTH)
    assert response.status_code == 422, response.text
    fields = [error["field"] for error in response.json()["errors"]]
    assert field in fields, response.json()
    assert count_rows(engine, Position) == before


def test_missing_metadata_is_422(api: Any) -> None:
    body = order()
    del body["model_version"]
    response = api.post("/v1/orders", json=body, headers=AUTH)
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "model_version"


def test_non_finite_numbers_are_422_not_500(api: Any) -> None:
    # Python's JSON parser accepts NaN and Infinity; JSONB and the ml_score range do not.
    template = json.dumps(order(ml_score=0.5, features_snapshot={"x": 1}))
    for text in (
        template.replace('"ml_score": 0.5', '"ml_score": NaN'),
        template.replace('{"x": 1}', '{"x": Infinity}'),
    ):
        assert "NaN" in text or "Infinity" in text
        response = api.post(
            "/v1/orders", content=text, headers={**AUTH, "Content-Type": "application/json"}
        )
        assert response.status_code == 422, response.text


def test_an_unfillable_quote_is_409(api: Any, markets: Any) -> None:
    markets[0].quote = {"ask": None, "ltp": None}
    response = api.post("/v1/orders", json=order(), headers=AUTH)
    assert response.status_code == 409 and response.json()["type"] == "/problems/unfillable"


# --- idempotency -------------------------------------------------------------------------------


def test_the_same_idempotency_key_replays_and_never_opens_twice(api: Any, engine: Engine) -> None:
    headers = {**AUTH, "Idempotency-Key": "sig-123"}
    first = api.post("/v1/orders", json=order(), headers=headers)
    before = count_rows(engine, Position)
    again = api.post("/v1/orders", json=order(), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert again.json()["position"] == first.json()["position"]
    assert count_rows(engine, Position) == before


def test_the_same_key_with_another_body_is_422_naming_the_header(api: Any) -> None:
    headers = {**AUTH, "Idempotency-Key": "sig-456"}
    assert api.post("/v1/orders", json=order(), headers=headers).status_code == 201
    response = api.post("/v1/orders", json=order(quantity=3), headers=headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "Idempotency-Key"


def test_client_order_id_is_unique_too(api: Any, engine: Engine) -> None:
    first = open_position(api, client_order_id="coid-1")
    before = count_rows(engine, Position)
    again = api.post("/v1/orders", json=order(client_order_id="coid-1"), headers=AUTH)
    assert again.status_code == 201 and again.json()["position"]["id"] == first["id"]
    other = api.post("/v1/orders", json=order(client_order_id="coid-1", side="SELL"), headers=AUTH)
    assert other.status_code == 422 and other.json()["errors"][0]["field"] == "client_order_id"
    assert count_rows(engine, Position) == before


def test_a_malformed_idempotency_key_is_422(api: Any) -> None:
    response = api.post("/v1/orders", json=order(), headers={**AUTH, "Idempotency-Key": "x" * 201})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "Idempotency-Key"


# --- closing -----------------------------------------------------------------------------------


def test_partial_closes_each_make_one_trade_until_the_position_is_closed(
    api: Any, engine: Engine
) -> None:
    position = open_position(api, quantity=3)
    first = close(api, position["id"], {"quantity": 1, "reason": "target"})
    assert first.status_code == 200, first.text
    trade = first.json()["trade"]
    assert trade["lots"] == 1 and trade["exit_price"] == "100.00"
    assert trade["exit_price_source"] == "bid" and trade["close_reason"] == "target"
    assert trade["pnl"] == str(Decimal("-0.10") * 1 * 75)
    assert first.json()["position"]["quantity_open"] == 2
    assert first.json()["position"]["status"] == "open"

    rest = close(api, position["id"], {"reason": "stop"})  # no quantity: everything still open
    assert rest.status_code == 200 and rest.json()["trade"]["lots"] == 2
    assert rest.json()["trade"]["pnl"] == "-15.00"
    after = rest.json()["position"]
    assert after["quantity_open"] == 0 and after["status"] == "closed"
    assert after["closed_at"] == "2025-12-01T04:30:00Z"

    again = close(api, position["id"], {"quantity": 1})
    assert again.status_code == 409 and "already closed" in again.json()["detail"]
    trades = api.get(f"/v1/positions/{position['id']}/trades").json()
    assert trades["total"] == 2 and {t["lots"] for t in trades["items"]} == {1, 2}


def test_closing_more_than_is_open_is_409(api: Any) -> None:
    position = open_position(api, quantity=2)
    response = close(api, position["id"], {"quantity": 3})
    assert response.status_code == 409 and "quantity" in response.json()["detail"]


def test_a_short_position_closes_at_the_ask_and_gains_when_prices_fall(
    api: Any, markets: Any
) -> None:
    position = open_position(api, side="SELL", quantity=1)  # sold at the bid, 100.00
    markets[0].quote = {"bid": 80.0, "ask": 80.1}
    trade = close(api, position["id"]).json()["trade"]
    assert (trade["exit_price"], trade["exit_price_source"]) == ("80.10", "ask")
    assert trade["pnl"] == "1492.50"  # (100.00 - 80.10) × 1 × 75


def test_a_client_exit_price_fills_but_the_snapshot_is_still_captured(
    api: Any, markets: Any
) -> None:
    position = open_position(api, quantity=1)
    markets[0].quote = {"bid": 120.05, "ask": 120.15}  # selling at the bid: a price a buyer pays
    trade = close(api, position["id"], {"exit_price": 120.05}).json()["trade"]
    assert (trade["exit_price"], trade["exit_price_source"]) == ("120.05", "client")
    assert trade["exit_source"] == "primary" and trade["exit_delta"] == 0.52
    assert trade["pnl"] == "1496.25"  # (120.05 - 100.10) × 75
    # docs/charges.md's worked example: buy 26.99 + sell 36.39 on 01-Dec-2025
    assert (trade["charges"], trade["net_pnl"]) == ("63.38", "1432.87")


def test_an_exit_price_far_from_the_captured_quote_is_422_naming_the_bid_and_ask(
    api: Any, markets: Any, engine: Engine
) -> None:
    position = open_position(api, quantity=1)
    markets[0].quote = {"bid": 256.2, "ask": 256.6}
    trades_before = count_rows(engine, Trade)
    response = close(api, position["id"], {"exit_price": 2562.0})  # 10 × the bid
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["errors"][0]["field"] == "exit_price"
    assert "bid 256.20" in body["detail"] and "ask 256.60" in body["detail"]
    assert count_rows(engine, Trade) == trades_before
    assert api.get(f"/v1/positions/{position['id']}").json()["quantity_open"] == 1


@pytest.mark.parametrize(
    ("side", "quote", "accepted", "refused"),
    [
        # mid 100.05: 1% = 1.00 (to the tick) beats 4 ticks = 0.20. A long closes by selling:
        # down to bid - tolerance, never above the ask (no buyer pays more than the offer).
        ("BUY", {"bid": 100.0, "ask": 100.1}, (99.0, 100.1), (98.95, 100.15)),
        # A short closes by buying: up to ask + tolerance, never below the bid.
        ("SELL", {"bid": 100.0, "ask": 100.1}, (100.0, 101.1), (99.95, 101.15)),
        # mid 5.05: 1% = 0.05, so the 4-tick floor (0.20) is the tolerance
        ("BUY", {"bid": 5.0, "ask": 5.1}, (4.8, 5.1), (4.75, 5.15)),
        ("SELL", {"bid": 5.0, "ask": 5.1}, (5.0, 5.3), (4.95, 5.35)),
    ],
)
def test_the_client_price_tolerance_widens_only_the_unfavourable_side(
    api: Any,
    markets: Any,
    side: str,
    quote: dict[str, float],
    accepted: tuple[float, float],
    refused: tuple[float, float],
) -> None:
    markets[0].quote = quote
    for price in refused:
        position = open_position(api, quantity=1, side=side)
        response = close(api, position["id"], {"exit_price": price})
        assert response.status_code == 422, (price, response.text)
    for price in accepted:
        position = open_position(api, quantity=1, side=side)
        response = close(api, position["id"], {"exit_price": price})
        assert response.status_code == 200, (price, response.text)
        assert Decimal(response.json()["trade"]["exit_price"]) == Decimal(str(price))


@pytest.mark.parametrize("price", [0, 2002.0])  # not positive; 20 × the entry (100.10) = 2002.00
def test_without_a_quote_a_client_price_is_bounded_by_sanity(
    api: Any, markets: Any, price: float
) -> None:
    position = open_position(api, quantity=1)
    markets[0].mode, markets[1].mode = "down", "down"
    response = close(api, position["id"], {"exit_price": price})
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "exit_price"
    assert "entry price 100.10" in response.json()["detail"]
    accepted = close(api, position["id"], {"exit_price": 2001.95})
    assert accepted.status_code == 200 and accepted.json()["trade"]["exit_source"] == "missing"


def test_an_exit_price_off_the_tick_is_422(api: Any) -> None:
    position = open_position(api, quantity=1)
    response = close(api, position["id"], {"exit_price": 120.03})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "exit_price"


def test_no_provider_and_an_exit_price_closes_with_a_missing_snapshot_and_a_warning(
    api: Any, markets: Any, caplog: pytest.LogCaptureFixture
) -> None:
    position = open_position(api, quantity=1)
    markets[0].mode, markets[1].mode = "timeout", "down"
    with caplog.at_level(logging.WARNING, logger="order_service.orders"):
        response = close(api, position["id"], {"exit_price": 95.5, "reason": "eod"})
    assert response.status_code == 200, response.text
    trade = response.json()["trade"]
    assert trade["exit_price_source"] == "client" and trade["exit_price"] == "95.50"
    assert trade["exit_source"] == "missing"
    assert "no market-data provider answered" in trade["exit_error"]
    assert (
        "primary: timeout" in trade["exit_error"] and "fallback: transport" in trade["exit_error"]
    )
    assert trade["exit_delta"] is None and trade["exit_market_at"] == "2025-12-01T04:30:00Z"
    assert trade["entry_delta"] == 0.52  # the entry snapshot is carried regardless
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"position {position['id']}" in r.getMessage() for r in warnings)


def test_no_provider_and_no_price_is_503_and_the_position_is_untouched(
    api: Any, markets: Any, engine: Engine
) -> None:
    position = open_position(api, quantity=2)
    markets[0].mode, markets[1].mode = "error500", "error500"
    trades_before = count_rows(engine, Trade)
    response = close(api, position["id"], {"quantity": 1})
    assert response.status_code == 503 and "left open" in response.json()["detail"]
    now = api.get(f"/v1/positions/{position['id']}").json()
    assert now["quantity_open"] == 2 and now["status"] == "open"
    assert now["updated_at"] == position["updated_at"]
    assert count_rows(engine, Trade) == trades_before


def test_capture_disabled_closes_at_the_client_price_with_a_missing_snapshot(
    api: Any, markets: Any
) -> None:
    api.app.dependency_overrides[order_settings] = lambda: OrderSettings(capture_enabled=False)
    position = open_position(api, quantity=1)
    requests_before = len(markets[0].requests)
    without_price = close(api, position["id"])
    assert without_price.status_code == 422
    assert without_price.json()["errors"][0]["field"] == "exit_price"
    trade = close(api, position["id"], {"exit_price": 101}).json()["trade"]
    assert trade["exit_source"] == "missing" and trade["exit_error"] == "capture disabled"
    assert trade["exit_price_source"] == "client"
    assert len(markets[0].requests) == requests_before  # no market-data call at close


def test_close_idempotency_key_replays_the_same_trade(api: Any, engine: Engine) -> None:
    position = open_position(api, quantity=3)
    headers = {"Idempotency-Key": "close-1"}
    first = close(api, position["id"], {"quantity": 1}, **headers)
    again = close(api, position["id"], {"quantity": 1}, **headers)
    assert first.status_code == again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["trade"] == first.json()["trade"]
    assert again.json()["position"]["quantity_open"] == 2

    different = close(api, position["id"], {"quantity": 2}, **headers)
    assert different.status_code == 422
    assert different.json()["errors"][0]["field"] == "Idempotency-Key"
    other = open_position(api, quantity=1)
    elsewhere = close(api, other["id"], {"quantity": 1}, **headers)
    assert elsewhere.status_code == 422


def test_close_before_the_position_opened_is_422(api: Any) -> None:
    position = open_position(api, quantity=1)
    earlier = (MARKET_AT - timedelta(minutes=5)).isoformat()
    response = close(api, position["id"], {"as_of": earlier})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "as_of"


def test_closing_an_unknown_position_is_404_naming_it(api: Any) -> None:
    response = close(api, 987654)
    assert response.status_code == 404 and "987654" in response.json()["detail"]


# --- the training record -----------------------------------------------------------------------


def test_every_entry_and_metadata_field_of_a_position_arrives_on_its_trades(
    api: Any, engine: Engine
) -> None:
    position = open_position(api, quantity=2, client_order_id="carry-1")
    close(api, position["id"], {"quantity": 1})
    close(api, position["id"])
    with Session(engine) as session:
        stored = session.get(Position, position["id"])
        trades = session.exec(select(Trade).where(Trade.position_id == position["id"])).all()
    assert stored is not None and len(trades) == 2
    carried = set(carried_trade_fields())
    # Derived from the models: every entry column and every metadata column of a position.
    must_carry = {name for name in Position.model_fields if name.startswith("entry_")}
    must_carry |= set(METADATA_FIELDS) | {"opened_at", "lot_size", "side", "strike", "expiry"}
    assert must_carry <= carried
    for trade in trades:
        for name in carried:
            assert getattr(trade, name) == getattr(stored, name), name
        for name in must_carry - {"entry_error"}:
            assert getattr(trade, name) is not None, name


def test_the_public_models_show_every_stored_column_but_the_bookkeeping() -> None:
    """Fingerprints and the engine's evaluation marks stay internal; the rest is answered."""
    internal = {"request_fingerprint", "close_request_fingerprint", "exits_evaluated_at",
                "evaluated_at"}  # fmt: skip
    assert set(Position.model_fields) - internal == set(PositionPublic.model_fields)
    assert set(Trade.model_fields) - internal == set(TradePublic.model_fields)
    assert set(Order.model_fields) - internal == set(OrderPublic.model_fields) - {"position"}


# --- reading -----------------------------------------------------------------------------------


def test_listings_filter_paginate_and_put_the_newest_first(api: Any) -> None:
    base = MARKET_AT - timedelta(days=3)
    opened = [
        open_position(api, model_version="list-v1", as_of=(base + timedelta(minutes=i)).isoformat())
        for i in range(5)
    ]
    open_position(api, model_version="list-v2", as_of=base.isoformat())
    close(api, opened[0]["id"])

    page = api.get("/v1/positions", params={"model_version": "list-v1", "limit": 2}).json()
    assert page["total"] == 5 and page["limit"] == 2
    assert [p["id"] for p in page["items"]] == [opened[4]["id"], opened[3]["id"]]
    second = api.get("/v1/positions", params={"model_version": "list-v1", "limit": 2, "offset": 2})
    assert [p["id"] for p in second.json()["items"]] == [opened[2]["id"], opened[1]["id"]]

    window = {
        "model_version": "list-v1",
        "from": (base + timedelta(minutes=1)).isoformat(),
        "to": (base + timedelta(minutes=3)).isoformat(),
    }
    assert api.get("/v1/positions", params=window).json()["total"] == 2
    closed = api.get("/v1/positions", params={"model_version": "list-v1", "status": "closed"})
    assert [p["id"] for p in closed.json()["items"]] == [opened[0]["id"]]
    assert api.get("/v1/positions", params={"underlying": "banknifty"}).json()["total"] == 0

    trades = api.get("/v1/trades", params={"model_version": "list-v1"}).json()
    assert trades["total"] == 1 and trades["items"][0]["position_id"] == opened[0]["id"]
    trade_id = trades["items"][0]["id"]
    assert api.get(f"/v1/trades/{trade_id}").json()["model_version"] == "list-v1"
    later = {"model_version": "list-v1", "from": "2030-01-01T00:00:00Z"}
    assert api.get("/v1/trades", params=later).json()["total"] == 0
    by_underlying = {"model_version": "list-v1", "underlying": "nifty"}  # case-insensitive
    assert api.get("/v1/trades", params=by_underlying).json()["total"] == 1
    other = {"model_version": "list-v1", "underlying": "BANKNIFTY"}
    assert api.get("/v1/trades", params=other).json()["total"] == 0


@pytest.mark.parametrize("path", ["/v1/positions", "/v1/trades", "/v1/models/performance"])
def test_listings_refuse_a_window_ending_before_it_starts(api: Any, path: str) -> None:
    inverted = {"from": "2025-12-02T00:00:00+00:00", "to": "2025-12-01T00:00:00+00:00"}
    response = api.get(path, params=inverted)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["to"]


@pytest.mark.parametrize(
    "query", [{"limit": 501}, {"limit": 0}, {"offset": -1}, {"from": "yesterday"}, {"status": "x"}]
)
def test_bad_listing_parameters_are_422(api: Any, query: dict[str, Any]) -> None:
    assert api.get("/v1/positions", params=query).status_code == 422


def test_unknown_ids_are_404_naming_them(api: Any) -> None:
    for path, name in (("/v1/positions/424242", "424242"), ("/v1/trades/535353", "535353"),
                       ("/v1/positions/424242/trades", "424242")):  # fmt: skip
        response = api.get(path)
        assert response.status_code == 404 and name in response.json()["detail"]


# --- auth --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong-key"}, {"Authorization": "Basic x"}]
)
def test_mutations_need_the_api_key(api: Any, engine: Engine, headers: dict[str, str]) -> None:
    before = count_rows(engine, Position)
    opened = api.post("/v1/orders", json=order(), headers=headers)
    assert opened.status_code == 401 and TEST_API_KEY not in opened.text
    assert opened.headers["WWW-Authenticate"] == "Bearer"
    assert api.post("/v1/positions/1/close", json={}, headers=headers).status_code == 401
    assert count_rows(engine, Position) == before


def test_reads_are_open(api: Any) -> None:
    assert api.get("/v1/positions").status_code == 200
    assert api.get("/v1/trades").status_code == 200


def test_the_request_id_is_passed_on_to_market_data(api: Any, markets: Any) -> None:
    response = api.post("/v1/orders", json=order(), headers={**AUTH, "X-Request-ID": "sig-rid-42"})
    assert response.status_code == 201 and response.headers["X-Request-ID"] == "sig-rid-42"
    assert markets[0].requests[-1].headers["X-Request-ID"] == "sig-rid-42"


# --- market hours and replay --------------------------------------------------------------------

SATURDAY = datetime(2025, 11, 29, 5, 30, tzinfo=UTC)  # 11:00 IST
FRIDAY_CLOSE = "2025-11-28T10:00:00Z"  # 15:30 IST


def stand_at(api: Any, now: datetime, **settings: Any) -> None:
    """The service's clock reads `now`; its settings are `settings` over the defaults."""
    api.app.dependency_overrides[clock] = lambda: now
    api.app.dependency_overrides[order_settings] = lambda: OrderSettings(**settings)


def test_an_order_on_a_saturday_without_as_of_is_market_closed(api: Any, engine: Engine) -> None:
    stand_at(api, SATURDAY)
    before = count_rows(engine, Position)
    response = api.post("/v1/orders", json=order(as_of=None), headers=AUTH)
    assert response.status_code == 422, response.text
    assert response.json()["type"] == "/problems/market-closed"
    assert response.json()["next_open"] == "2025-12-01T09:15:00+05:30"
    assert count_rows(engine, Position) == before


def test_a_close_on_a_saturday_without_as_of_is_market_closed(api: Any) -> None:
    position = open_position(api, quantity=1)
    stand_at(api, SATURDAY)
    response = api.post(f"/v1/positions/{position['id']}/close", json={}, headers=AUTH)
    assert response.status_code == 422 and response.json()["type"] == "/problems/market-closed"
    assert api.get(f"/v1/positions/{position['id']}").json()["status"] == "open"


def test_allowed_off_hours_orders_fill_at_the_last_close_marked_and_hold_no_market_time(
    api: Any, markets: Any
) -> None:
    stand_at(api, SATURDAY, allow_off_hours_orders=True)
    opened = api.post("/v1/orders", json=order(as_of=None, quantity=1), headers=AUTH)
    assert opened.status_code == 201, opened.text
    position = opened.json()["position"]
    assert position["off_hours"] is True and position["mode"] == "live"
    assert position["entry_market_at"] == FRIDAY_CLOSE
    assert position["opened_at"] == "2025-11-29T05:30:00Z"  # when it was placed
    assert markets[0].requests[-1].url.params["as_of"] == "2025-11-28T10:00:00+00:00"
    stand_at(api, SATURDAY + timedelta(days=1), allow_off_hours_orders=True)  # Sunday
    closed = api.post(f"/v1/positions/{position['id']}/close", json={}, headers=AUTH)
    assert closed.status_code == 200, closed.text
    trade = closed.json()["trade"]
    assert trade["off_hours"] is True and trade["exit_market_at"] == FRIDAY_CLOSE
    assert trade["market_seconds_held"] == 0
    assert trade["attribution"]["theta"] == 0  # no market time, no decay


def test_an_order_in_the_session_is_live_and_a_backdated_one_a_replay(api: Any) -> None:
    stand_at(api, MARKET_AT)
    live = open_position(api, as_of=None, quantity=1)
    assert (live["mode"], live["off_hours"]) == ("live", False)
    replay = open_position(api, as_of=(MARKET_AT - timedelta(days=4)).isoformat(), quantity=1)
    assert replay["mode"] == "replay"
    trade = close(api, replay["id"], {"as_of": MARKET_AT.isoformat()}).json()["trade"]
    assert trade["mode"] == "replay"
    # A live position closed at a backdated instant is a replay trade too.
    stand_at(api, MARKET_AT + timedelta(hours=1))
    backdated = close(api, live["id"], {"as_of": MARKET_AT.isoformat()}).json()["trade"]
    assert backdated["mode"] == "replay"


# --- text the databases cannot hold ----------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field", "where"),
    [
        ({"model_version": "v1\x00"}, "model_version", ""),
        ({"client_order_id": "sig\x00-1"}, "client_order_id", ""),
        ({"features_snapshot": {"rsi\x00": 61.2}}, "features_snapshot", "a key under the top"),
        ({"features_snapshot": {"regime": {"name": "tr\x00end"}}}, "features_snapshot",
         "the value at regime.name"),
    ],
)  # fmt: skip
def test_a_nul_character_is_refused_naming_the_field_on_every_database(
    api: Any, engine: Engine, overrides: dict[str, Any], field: str, where: str
) -> None:
    before = count_rows(engine, Position)
    response = api.post("/v1/orders", json=order(**overrides), headers=AUTH)
    assert response.status_code == 422, response.text
    (error,) = response.json()["errors"]
    assert error["field"] == field and "NUL character" in error["reason"]
    assert where in error["reason"]
    assert count_rows(engine, Position) == before


def test_a_close_reason_with_a_nul_character_is_refused_and_closes_nothing(api: Any) -> None:
    position = open_position(api)
    response = close(api, position["id"], {"reason": "target\x00"})
    assert response.status_code == 422, response.text
    (error,) = response.json()["errors"]
    assert error["field"] == "reason" and "NUL character" in error["reason"]
    assert api.get(f"/v1/positions/{position['id']}").json()["status"] == "open"
