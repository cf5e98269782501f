"""Fills from the real NSE snapshots, through the nse-replay market-data provider as a process."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import httpx
import pytest

from market_data_service import greeks
from optrade.domain import IST
from tests.support.orders_processes import AUTH
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.slow


def test_the_readme_trade_fills_at_the_recorded_ask_and_bid(
    orders_on_replay: ServiceProcess,
) -> None:
    """Buy 1 lot of NIFTY 02-Dec-2025 26100 PE at 09:34:45 IST at the ask, 38.50; sell it at
    15:13:29 at the bid, 69.20: P&L (69.20 - 38.50) × 75 = ₹2,302.50."""
    body = {
        "underlying": "NIFTY",
        "expiry": "2025-12-02",
        "strike": 26100,
        "option_type": "PE",
        "side": "BUY",
        "quantity": 1,
        "ml_score": 0.64,
        "model_version": "replay-v1",
        "model_hash": "c0ffee0",
        "features_snapshot": {"spot": 26122.65},
        "as_of": datetime(2025, 12, 2, 9, 34, 45, tzinfo=IST).isoformat(),
    }
    with httpx.Client(base_url=orders_on_replay.url, headers=AUTH, timeout=30) as api:
        opened = api.post("/v1/orders", json=body)
        assert opened.status_code == 201, opened.text
        position = opened.json()["position"]
        assert (position["entry_price"], position["entry_price_source"]) == ("38.50", "ask")
        assert position["lot_size"] == 75 and position["entry_source"] == "primary"
        assert (position["entry_bid"], position["entry_ask"]) == ("38.40", "38.50")
        assert position["entry_spread"] == "0.10" and position["entry_spot"] == "26122.65"
        assert position["entry_market_at"] == "2025-12-02T04:04:45Z"
        assert position["entry_delta"] < 0 and position["entry_iv"] > 0  # computed, not NSE's

        closed = api.post(
            f"/v1/positions/{position['id']}/close",
            json={"as_of": datetime(2025, 12, 2, 15, 13, 29, tzinfo=IST).isoformat()},
        )
        assert closed.status_code == 200, closed.text
        trade = closed.json()["trade"]
    assert (trade["exit_price"], trade["exit_price_source"]) == ("69.20", "bid")
    assert Decimal(trade["pnl"]) == Decimal("2302.50")
    assert trade["exit_market_at"] == "2025-12-02T09:43:29Z"


def test_an_in_the_money_call_bought_at_09_34_45_has_entry_greeks(
    orders_on_replay: ServiceProcess, replay_market: ServiceProcess
) -> None:
    """NIFTY 02-Dec-2025 25800 CE, 323 points in the money at 09:34:45: its own mid does not pin
    an IV, so it carries its strike's out-of-the-money (put) IV and Greeks from it; the record
    keeps the forward, rate and time to expiry, enough to solve that IV again from the put."""
    morning = datetime(2025, 12, 2, 9, 34, 45, tzinfo=IST).isoformat()
    chain = httpx.get(
        f"{replay_market.url}/v1/chain/NIFTY",
        params={"expiry": "2025-12-02", "as_of": morning},
        timeout=30,
    ).json()
    put = next(r["pe"] for r in chain["strikes"] if r["strike"] == 25800)
    body = {
        "underlying": "NIFTY", "expiry": "2025-12-02", "strike": 25800, "option_type": "CE",
        "side": "BUY", "quantity": 1, "ml_score": 0.7, "model_version": "replay-v1",
        "model_hash": "c0ffee0", "features_snapshot": {"spot": 26122.65}, "as_of": morning,
    }  # fmt: skip
    with httpx.Client(base_url=orders_on_replay.url, headers=AUTH, timeout=30) as api:
        opened = api.post("/v1/orders", json=body)
        assert opened.status_code == 201, opened.text
        position = opened.json()["position"]
        closed = api.post(
            f"/v1/positions/{position['id']}/close",
            json={"as_of": datetime(2025, 12, 2, 15, 13, 29, tzinfo=IST).isoformat()},
        )
        assert closed.status_code == 200, closed.text
        trade = closed.json()["trade"]
    assert position["entry_price"] == "328.60" and position["entry_source"] == "primary"
    for greek in ("delta", "gamma", "theta", "vega", "iv"):
        assert position[f"entry_{greek}"] is not None, greek
    assert 0.9 < position["entry_delta"] < 1 and position["entry_theta"] < 0
    assert position["entry_iv_source"] == "otm"
    assert position["entry_iv"] == pytest.approx(put["iv"], rel=1e-12)
    assert position["entry_forward"] == pytest.approx(chain["forward"], rel=1e-12)
    assert position["entry_t_years"] == pytest.approx(chain["time_to_expiry_years"], rel=1e-12)
    # RBI's 91-day T-bill yield in force that day (26-Nov-2025 auction, 5.3633%), continuous
    assert position["entry_rate"] == chain["rate"] == pytest.approx(0.053278, abs=1e-6)
    # re-priced from the record alone: Black-76 on the stored forward, the put's mid -> the IV
    again = greeks.compute(
        "black76", False, position["entry_forward"], 25800.0, position["entry_t_years"],
        position["entry_rate"], price=(put["bid"] + put["ask"]) / 2,
    )  # fmt: skip
    assert float(again.iv) * 100 == pytest.approx(position["entry_iv"], rel=1e-9)
    # and at 15:13:29 (17 minutes before expiry) the exit has Greeks too
    assert trade["exit_iv"] is not None and trade["exit_delta"] > 0.9
    assert trade["exit_iv_source"] in ("own", "otm")
