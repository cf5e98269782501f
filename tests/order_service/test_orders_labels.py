"""Honest labels through the running stack: bounded client prices, market hours, replay kept apart.

Real processes: two simulated market-data instances and order services on the test database.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from optrade.calendar import ist_date
from optrade.domain import utcnow
from tests.support.orders_processes import (
    AUTH,
    SESSION_AT,
    listed_option,
    market_data,
    order_body,
    order_service,
    warm_up,
)
from tests.support.processes import ServiceProcess, free_port

pytestmark = pytest.mark.slow
CLOSE_AT = SESSION_AT + timedelta(minutes=5)
IST_OFFSET = timedelta(hours=5, minutes=30)


@pytest.fixture(scope="module")
def stack(database_url: str) -> Iterator[dict[str, Any]]:
    """Market data up; an order service asking it; one whose providers are both down."""
    with market_data("primary") as primary, market_data("fallback") as fallback:
        option = listed_option(primary.url)
        warm_up(primary.url, option)
        orders = order_service(database_url, primary.url, fallback.url)
        dead = [f"http://127.0.0.1:{free_port()}" for _ in range(2)]
        stranded = order_service(database_url, *dead)
        try:
            yield {"orders": orders, "stranded": stranded, "md": primary, "option": option}
        finally:
            stranded.stop()
            orders.stop()


def _open(service: ServiceProcess, option: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    answer = httpx.post(
        f"{service.url}/v1/orders", json=order_body(option, **overrides), headers=AUTH, timeout=30
    )
    assert answer.status_code == 201, answer.text
    return dict(answer.json()["position"])


def _close(service: ServiceProcess, position_id: int, **body: Any) -> httpx.Response:
    return httpx.post(
        f"{service.url}/v1/positions/{position_id}/close",
        json={"as_of": CLOSE_AT.isoformat(), **body},
        headers=AUTH,
        timeout=30,
    )


def _performance(service: ServiceProcess, model: str, **params: str) -> dict[str, Any] | None:
    answer = httpx.get(f"{service.url}/v1/models/performance", params=params, timeout=30)
    assert answer.status_code == 200, answer.text
    return next((m for m in answer.json()["models"] if m["model_version"] == model), None)


def test_a_close_at_ten_times_the_captured_bid_is_422_naming_the_bid_and_ask(
    stack: dict[str, Any],
) -> None:
    option, orders = stack["option"], stack["orders"]
    position = _open(orders, option, model_version="labels-10x")
    quote = httpx.get(
        f"{stack['md'].url}/v1/quote/NIFTY",
        params={
            "expiry": option["expiry"],
            "strike": option["strike"],
            "option_type": "CE",
            "as_of": CLOSE_AT.isoformat(),
        },  # fmt: skip
        timeout=30,
    ).json()
    bid, ask = Decimal(str(quote["bid"])), Decimal(str(quote["ask"]))
    refused = _close(orders, position["id"], exit_price=float(bid * 10))
    assert refused.status_code == 422, refused.text
    body = refused.json()
    assert body["errors"][0]["field"] == "exit_price"
    assert f"bid {bid:.2f}" in body["detail"] and f"ask {ask:.2f}" in body["detail"]
    still = httpx.get(f"{orders.url}/v1/positions/{position['id']}", timeout=30).json()
    assert still["status"] == "open" and still["quantity_open"] == 1
    # Inside the quote, the client's price fills (and is marked as the client's).
    accepted = _close(orders, position["id"], exit_price=float(bid))
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["trade"]["exit_price_source"] == "client"


def test_with_both_providers_down_a_client_price_is_accepted_marked_and_kept_out(
    stack: dict[str, Any],
) -> None:
    model = "labels-down"
    position = _open(stack["orders"], stack["option"], model_version=model)
    closed = _close(stack["stranded"], position["id"], exit_price=float(position["entry_price"]))
    assert closed.status_code == 200, closed.text
    trade = closed.json()["trade"]
    assert (trade["exit_price_source"], trade["exit_source"]) == ("client", "missing")
    assert "no market-data provider answered" in trade["exit_error"]
    counted = _performance(stack["orders"], model, mode="replay")
    assert counted is not None
    assert (counted["trades"], counted["positions"]) == (0, 0)
    assert (counted["client_exit_trades"], counted["missing_exit_trades"]) == (1, 1)
    included = _performance(stack["orders"], model, mode="replay", include="client,missing")
    assert included is not None and included["trades"] == 1


def test_a_backdated_order_is_a_replay_and_not_in_live_performance(
    stack: dict[str, Any],
) -> None:
    model = "labels-replay"
    position = _open(stack["orders"], stack["option"], model_version=model)
    assert position["mode"] == "replay" and position["off_hours"] is False
    trade = _close(stack["orders"], position["id"]).json()["trade"]
    assert trade["mode"] == "replay"
    assert _performance(stack["orders"], model) is None  # live: not there at all
    replayed = _performance(stack["orders"], model, mode="replay")
    assert replayed is not None and replayed["trades"] == 1
    listed = httpx.get(f"{stack['orders'].url}/v1/trades", params={"mode": "live"}, timeout=30)
    assert position["id"] not in {t["position_id"] for t in listed.json()["items"]}


def test_an_order_without_as_of_on_a_closed_day_is_market_closed(
    stack: dict[str, Any], database_url: str
) -> None:
    """Today declared a holiday (NSE_EXTRA_HOLIDAYS): the session is closed whatever the hour,
    as on a Saturday; the refusal names the next session's open."""
    today = ist_date(utcnow())
    closed = order_service(
        database_url,
        stack["md"].url,
        stack["md"].url,
        NSE_EXTRA_HOLIDAYS=json.dumps([today.isoformat()]),
    )
    try:
        answer = httpx.post(
            f"{closed.url}/v1/orders",
            json=order_body(stack["option"], as_of=None, model_version="labels-closed"),
            headers=AUTH,
            timeout=30,
        )
    finally:
        closed.stop()
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["type"] == "/problems/market-closed"
    opens = datetime.fromisoformat(body["next_open"])
    assert opens.date() > today and opens.time() == time(9, 15) and opens.utcoffset() == IST_OFFSET
    assert opens.isoformat() in body["detail"]
