"""A paper account's funds on the real 02-Dec-2025 NIFTY snapshots (issue 22, docs/accounts.md):
₹4,00,000 sells one ATM straddle of the 09-Dec weekly but not a second (422 insufficient-funds
naming both figures); closing the first releases its margin to the paisa; `POST /v1/margins`
answers the domain's figures for legs priced from the quotes; the CLI prints the page.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from optrade.calendar import IST
from optrade_client.cli import inr
from order_service.domain.margin import MarketState, OptionLeg, portfolio_margin
from order_service.domain.mark_to_market import marks_of
from tests.conftest import TEST_API_KEY
from tests.support.orders_processes import AUTH
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.slow
AT = datetime(2025, 12, 2, 9, 34, 45, tzinfo=IST)
EXPIRY = date(2025, 12, 9)
LOT = 75


@pytest.fixture
def api(orders_on_replay: ServiceProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=orders_on_replay.url, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def atm(replay_market: ServiceProcess) -> int:
    answer = httpx.get(
        f"{replay_market.url}/v1/quote/NIFTY",
        params={"expiry": EXPIRY.isoformat(), "strike": 26000, "option_type": "CE",
                "as_of": AT.isoformat()},
        timeout=30,
    )  # fmt: skip
    answer.raise_for_status()
    return int(round(answer.json()["spot"] / 50) * 50)


def quote(market_url: str, strike: int, option_type: str) -> dict[str, Any]:
    params = {"expiry": EXPIRY.isoformat(), "strike": strike, "option_type": option_type,
              "as_of": AT.isoformat()}  # fmt: skip
    answer = httpx.get(f"{market_url}/v1/quote/NIFTY", params=params, timeout=30)
    answer.raise_for_status()
    return dict(answer.json())


def sell(api: httpx.Client, account: str, strike: int, option_type: str) -> httpx.Response:
    body = {
        "underlying": "NIFTY", "expiry": EXPIRY.isoformat(), "strike": strike,
        "option_type": option_type, "side": "SELL", "lots": 1, "ml_score": 0.5,
        "model_version": "funds-v1", "model_hash": "c0ffee0", "features_snapshot": {"x": 1},
        "as_of": AT.isoformat(), "account": account,
    }  # fmt: skip
    return api.post("/v1/orders", json=body, headers=AUTH)


def close(api: httpx.Client, position_id: int) -> None:
    closed = api.post(
        f"/v1/positions/{position_id}/close", json={"as_of": AT.isoformat()}, headers=AUTH
    )
    assert closed.status_code == 200, closed.text


def page(api: httpx.Client, account: str) -> dict[str, Any]:
    answer = api.get(f"/v1/accounts/{account}")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def domain_margin(market_url: str, legs: list[tuple[int, str, int]]) -> Decimal:
    """The domain's margin of (strike, CE/PE, signed units) priced from the quotes by hand."""
    quotes = [quote(market_url, strike, kind) for strike, kind, _ in legs]
    scanned = [
        OptionLeg(EXPIRY, float(strike), kind, units, q["iv"] / 100,  # type: ignore[arg-type]
                  float(marks_of([q["bid"]], [q["ask"]], [q["ltp"]])[0]))
        for (strike, kind, units), q in zip(legs, quotes, strict=True)
    ]  # fmt: skip
    market = MarketState(
        spot=quotes[0]["spot"], as_of=AT, rate=quotes[0]["rate"],
        forwards={EXPIRY: quotes[0]["forward"]},
    )  # fmt: skip
    return portfolio_margin(scanned, market).margin


def test_four_lakh_sells_one_straddle_not_two_and_a_close_releases_its_margin(
    api: httpx.Client, atm: int, replay_market: ServiceProcess
) -> None:
    put = api.put("/v1/accounts/four-lakh", json={"capital": "400000"}, headers=AUTH)
    assert put.status_code == 200, put.text
    assert Decimal(put.json()["available"]) == Decimal("400000.00")
    call = sell(api, "four-lakh", atm, "CE")
    assert call.status_code == 201, call.text
    put_leg = sell(api, "four-lakh", atm, "PE")
    assert put_leg.status_code == 201, put_leg.text
    held = page(api, "four-lakh")
    straddle = domain_margin(replay_market.url, [(atm, "CE", -LOT), (atm, "PE", -LOT)])
    assert Decimal(held["used_margin"]) == straddle
    notional = Decimal(str(quote(replay_market.url, atm, "CE")["spot"])) * LOT
    assert Decimal("0.11") < straddle / notional < Decimal("0.16")  # one leg's notional
    assert Decimal(held["available"]) == Decimal(held["cash"]) - straddle

    refused = sell(api, "four-lakh", atm, "CE")  # the second straddle's first leg
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert problem["type"] == "/problems/insufficient-funds"
    assert Decimal(problem["available"]) == Decimal(held["available"])
    with_two_calls = domain_margin(replay_market.url, [(atm, "CE", -2 * LOT), (atm, "PE", -LOT)])
    assert Decimal(problem["required"]) == with_two_calls - straddle
    assert Decimal(problem["required"]) > Decimal(problem["available"])
    assert page(api, "four-lakh")["open_positions"] == 2  # nothing written for the refusal

    close(api, call.json()["position_id"])
    after_call = page(api, "four-lakh")
    assert Decimal(after_call["used_margin"]) == domain_margin(
        replay_market.url, [(atm, "PE", -LOT)]
    )
    close(api, put_leg.json()["position_id"])
    flat = page(api, "four-lakh")
    assert (flat["used_margin"], flat["open_positions"]) == ("0.00", 0)
    assert flat["available"] == flat["cash"]
    trades = api.get("/v1/trades", params={"limit": 500}).json()["items"]
    mine = [t for t in trades if t["account"] == "four-lakh"]
    assert len(mine) == 2 and all(Decimal(t["margin_blocked"]) > 0 for t in mine)
    for trade in mine:
        expected = Decimal(trade["net_pnl"]) / Decimal(trade["margin_blocked"])
        assert trade["return_on_margin"] == pytest.approx(float(expected))
    assert sell(api, "four-lakh", atm, "CE").status_code == 201  # the funds are back
    models = api.get("/v1/models/performance", params={"mode": "replay"}).json()["models"]
    (model,) = [m for m in models if m["model_version"] == "funds-v1"]
    blocked = sum(Decimal(t["margin_blocked"]) for t in mine)
    assert Decimal(str(model["margin_blocked"])) == blocked
    net = sum(Decimal(t["net_pnl"]) for t in mine)
    assert model["return_on_margin"] == pytest.approx(float(net / blocked))


def test_a_buy_needs_its_premium_and_charges(api: httpx.Client, atm: int) -> None:
    api.put("/v1/accounts/small", json={"capital": "1000"}, headers=AUTH)
    body = {
        "underlying": "NIFTY", "expiry": EXPIRY.isoformat(), "strike": atm, "option_type": "CE",
        "side": "BUY", "lots": 1, "ml_score": 0.5, "model_version": "funds-v1",
        "model_hash": "c0ffee0", "features_snapshot": {"x": 1}, "as_of": AT.isoformat(),
        "account": "small",
    }  # fmt: skip
    refused = api.post("/v1/orders", json=body, headers=AUTH)
    assert refused.status_code == 422, refused.text
    assert refused.json()["type"] == "/problems/insufficient-funds"
    assert Decimal(refused.json()["available"]) == Decimal("1000.00")
    assert Decimal(refused.json()["required"]) > Decimal("1000.00")


def test_the_margin_endpoint_answers_the_domains_figures_for_the_quoted_legs(
    api: httpx.Client, atm: int, replay_market: ServiceProcess
) -> None:
    symbol = f"NIFTY09DEC25{atm}"
    legs = [
        {"symbol": f"{symbol}CE", "side": "SELL", "lots": 1},
        {"symbol": f"{symbol}PE", "side": "SELL", "lots": 1},
    ]
    unkeyed = api.post("/v1/margins", json={"account": "nobody", "legs": legs})
    assert unkeyed.status_code == 401  # it reads an account's positions: keyed, as Kite's is
    answer = api.post(
        "/v1/margins",
        json={"account": "nobody", "as_of": AT.isoformat(), "legs": legs},
        headers=AUTH,
    )
    assert answer.status_code == 200, answer.text
    got = answer.json()
    expected = domain_margin(replay_market.url, [(atm, "CE", -LOT), (atm, "PE", -LOT)])
    assert Decimal(got["margin"]) == expected == Decimal(got["basket"]["margin"])
    assert Decimal(got["margin"]) == Decimal(got["span"]) + Decimal(got["exposure"])
    assert Decimal(got["premium"]) < 0  # premium received
    assert got["worst_scenario"].startswith("price ")
    assert got["positions"]["margin"] == "0.00" and Decimal(got["incremental"]) == expected
    bad = api.post(
        "/v1/margins",
        json={"legs": [{"symbol": "NIFTY", "side": "SELL", "lots": 1}]},
        headers=AUTH,
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "legs[0].symbol"


def test_the_cli_prints_the_funds_page(orders_on_replay: ServiceProcess, api: httpx.Client) -> None:
    api.put("/v1/accounts/cli-page", json={"capital": "250000"}, headers=AUTH)
    env = {**os.environ, "OPTRADE_ORDER_URL": orders_on_replay.url, "OPTRADE_API_KEY": TEST_API_KEY}
    shown = subprocess.run(
        [sys.executable, "-m", "optrade_client.cli", "account", "cli-page"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert "cli-page" in shown.stdout and "2,50,000.00" in shown.stdout
    for label in ("cash", "used margin", "available", "realized", "unrealized", "equity"):
        assert label in shown.stdout
    symbol = "NIFTY09DEC2526000CE"
    checked = subprocess.run(
        [sys.executable, "-m", "optrade_client.cli", "margin", "--symbol", symbol, "--side",
         "SELL", "--lots", "1", "--account", "cli-page", "--as-of", AT.isoformat()],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    expected = api.post("/v1/margins", headers=AUTH, json={
        "account": "cli-page", "as_of": AT.isoformat(),
        "legs": [{"symbol": symbol, "side": "SELL", "lots": 1}],
    }).json()  # fmt: skip
    assert inr(expected["margin"]) in checked.stdout and "basket alone" in checked.stdout


def test_rupees_are_grouped_in_lakhs_and_crores() -> None:
    assert inr("250000") == "2,50,000.00" and inr("-12345678.5") == "-1,23,45,678.50"
    assert inr("999") == "999.00" and inr("1000") == "1,000.00"


def test_concurrent_buys_of_one_account_never_spend_the_same_funds(
    api: httpx.Client, atm: int, orders_on_replay: ServiceProcess
) -> None:
    """Funds are checked under the account's lock: of twelve concurrent BUYs that together need
    four times the capital, only as many fill as the capital pays for, and available stays ≥ 0."""
    body = {
        "underlying": "NIFTY", "expiry": EXPIRY.isoformat(), "strike": atm, "option_type": "CE",
        "side": "BUY", "lots": 1, "ml_score": 0.5, "model_version": "funds-race",
        "model_hash": "c0ffee0", "features_snapshot": {"x": 1}, "as_of": AT.isoformat(),
        "account": "race",
    }  # fmt: skip
    api.put("/v1/accounts/race", json={"capital": "1000000"}, headers=AUTH)
    one = api.post("/v1/orders", json=body, headers=AUTH)
    assert one.status_code == 201, one.text
    cost = Decimal("1000000") - Decimal(page(api, "race")["cash"])  # premium + charges of one
    capital = (cost * 3).quantize(Decimal("0.01"))
    api.put("/v1/accounts/race", json={"capital": str(capital + cost)}, headers=AUTH)
    from concurrent.futures import ThreadPoolExecutor

    def send(_: int) -> int:
        with httpx.Client(base_url=orders_on_replay.url, timeout=60) as client:
            return client.post("/v1/orders", json=body, headers=AUTH).status_code

    with ThreadPoolExecutor(12) as pool:
        codes = list(pool.map(send, range(12)))
    assert codes.count(201) == 3 and codes.count(422) == 9, codes
    assert Decimal(page(api, "race")["available"]) >= 0
