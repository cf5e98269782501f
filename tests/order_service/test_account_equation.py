"""The account equation after every step of a randomized sequence (issue 22, docs/accounts.md):
opens (BUY and SELL, two expiries), partial and full closes, refusals and the 02-Dec-2025
settlement, on the real NSE snapshots, on both databases.

After each step the page's cash equals a ledger the test keeps by hand from the fills (a BUY pays
premium + its entry order's charges, a SELL receives premium - charges, a close pays or receives
the exit premium and its own charges, a settlement intrinsic), to the paisa; `available = cash -
used_margin`; `equity = capital + realized + unrealized - charges`; and `unrealized` equals
Σ (mark - entry) × units × side over the open positions as the API lists them.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx
import pytest

from optrade.calendar import IST
from optrade.charges import order_charges, rate_table
from optrade.domain import Side
from tests.support.orders_processes import AUTH
from tests.support.processes import ServiceProcess

pytestmark = [pytest.mark.slow, pytest.mark.both_databases]
MORNING = datetime(2025, 12, 2, 9, 34, 45, tzinfo=IST)
AFTERNOON = datetime(2025, 12, 2, 15, 13, 29, tzinfo=IST)
EXPIRIES = ("2025-12-02", "2025-12-09")
STRIKES = (25900, 26000, 26100, 26200)
ACCOUNT = "equation"
CAPITAL = Decimal("2500000.00")
PAISA = Decimal("0.01")


@pytest.fixture
def api(orders_on_replay: ServiceProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=orders_on_replay.url, timeout=60) as client:
        yield client


def paisa(value: Decimal) -> Decimal:
    return value.quantize(PAISA, rounding=ROUND_HALF_UP)


def entry_charges(side: str, price: Decimal, units: int, share: Decimal = Decimal(1)) -> Decimal:
    """The opening order's charges (or a close's share of them) by the published schedule."""
    schedule = rate_table().on(MORNING.date())
    return order_charges(schedule, Side(side), price * units, share).total


def sign(side: str) -> int:
    return 1 if side == "BUY" else -1


def open_positions(api: httpx.Client) -> list[dict[str, Any]]:
    items = api.get("/v1/positions", params={"status": "open", "limit": 500}).json()["items"]
    return [p for p in items if p["account"] == ACCOUNT]


def check_page(api: httpx.Client, ledger: Decimal) -> dict[str, Any]:
    page = api.get(f"/v1/accounts/{ACCOUNT}").json()
    money = {k: Decimal(page[k]) for k in (
        "capital", "cash", "used_margin", "available", "realized", "unrealized", "charges",
        "equity", "premium_paid_open", "premium_received_open",
    )}  # fmt: skip
    assert money["cash"] == ledger
    assert money["cash"] == (
        money["capital"] + money["realized"] - money["charges"]
        - money["premium_paid_open"] + money["premium_received_open"]
    )  # fmt: skip
    assert money["available"] == money["cash"] - money["used_margin"]
    assert money["equity"] == (
        money["capital"] + money["realized"] + money["unrealized"] - money["charges"]
    )
    held = open_positions(api)
    assert page["open_positions"] == len(held)
    by_hand = sum(
        (
            (Decimal(p["mark_price"]) - Decimal(p["entry_price"]))
            * p["quantity_open"] * p["lot_size"] * sign(p["side"])
            for p in held if p["mark_price"] is not None
        ),
        Decimal("0.00"),
    )  # fmt: skip
    assert money["unrealized"] == by_hand
    premium_paid = sum(
        (Decimal(p["entry_price"]) * p["quantity_open"] * p["lot_size"]
         for p in held if p["side"] == "BUY"), Decimal("0.00"),
    )  # fmt: skip
    assert money["premium_paid_open"] == premium_paid
    if not any(p["side"] == "SELL" for p in held):
        assert money["used_margin"] == 0
    return page


def trade_flow(trade: dict[str, Any], position: dict[str, Any]) -> Decimal:
    """The cash a trade moves: the exit premium (intrinsic at settlement) and its charges less
    the entry share the opening fill paid already."""
    units = trade["lots"] * trade["lot_size"]
    share = entry_charges(
        trade["side"], Decimal(trade["entry_price"]), units,
        Decimal(trade["lots"]) / Decimal(position["lots"]),
    )  # fmt: skip
    exit_charges = Decimal(trade["charges"]) - share
    return sign(trade["side"]) * Decimal(trade["exit_price"]) * units - exit_charges


def test_the_account_equation_holds_after_every_step(api: httpx.Client) -> None:
    assert api.put(f"/v1/accounts/{ACCOUNT}", json={"capital": str(CAPITAL)},
                   headers=AUTH).status_code == 200  # fmt: skip
    rng = random.Random(22)
    ledger = CAPITAL
    positions: dict[int, dict[str, Any]] = {}
    done = {"open": 0, "refused": 0, "close": 0, "settled": 0}
    check_page(api, ledger)
    for step in range(14):
        held = open_positions(api)
        at = MORNING if step < 6 else AFTERNOON
        if step < 6 or not held or rng.random() < 0.35:
            side = rng.choice(("BUY", "SELL"))
            body = {
                "underlying": "NIFTY", "expiry": rng.choice(EXPIRIES),
                "strike": rng.choice(STRIKES), "option_type": rng.choice(("CE", "PE")),
                "side": side, "lots": rng.randint(1, 4), "ml_score": 0.5,
                "model_version": "equation", "model_hash": "c0ffee0",
                "features_snapshot": {"step": step}, "as_of": at.isoformat(),
                "account": ACCOUNT,
            }  # fmt: skip
            placed = api.post("/v1/orders", json=body, headers=AUTH)
            if placed.status_code == 422:
                assert placed.json()["type"] == "/problems/insufficient-funds", placed.text
                done["refused"] += 1
            else:
                assert placed.status_code == 201, placed.text
                position = placed.json()["position"]
                positions[position["id"]] = position
                done["open"] += 1
                units = position["lots"] * position["lot_size"]
                price = Decimal(position["entry_price"])
                ledger += -sign(side) * price * units - entry_charges(side, price, units)
        else:
            position = rng.choice(held)
            lots = rng.randint(1, position["quantity_open"])
            closed = api.post(
                f"/v1/positions/{position['id']}/close",
                json={"lots": lots, "as_of": AFTERNOON.isoformat()}, headers=AUTH,
            )  # fmt: skip
            assert closed.status_code == 200, closed.text
            ledger += trade_flow(closed.json()["trade"], positions[position["id"]])
            done["close"] += 1
        check_page(api, paisa(ledger))
    settled = api.post("/v1/settlements/run", params={"expiry": EXPIRIES[0]}, headers=AUTH)
    assert settled.status_code == 200, settled.text
    for row in settled.json()["settled"]:
        if row["position_id"] in positions:
            trade = api.get(f"/v1/trades/{row['trade_id']}").json()
            ledger += trade_flow(trade, positions[row["position_id"]])
            done["settled"] += 1
    page = check_page(api, paisa(ledger))
    assert all(p["expiry"] == EXPIRIES[1] for p in open_positions(api))
    assert Decimal(page["realized"]) != 0 and Decimal(page["charges"]) > 0
    assert done["open"] >= 6 and done["close"] >= 3 and done["settled"] >= 1, done
