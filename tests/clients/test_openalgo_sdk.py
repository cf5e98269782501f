"""The official `openalgo` SDK (PyPI 1.0.47), installed alone in a clean virtualenv, paper-trades
against the running stack: the order service on the market-data service on a fake OpenAlgo broker
serving the real 02-Dec-2025 chain moved to today, in a special session covering now.

The script is an OpenAlgo strategy as its users write it: it reads the chain, buys the ATM call
with model metadata as keyword arguments, sees it complete, sells it (the position closes through
our close path, with entry and exit Greeks), rests a LIMIT far from the market and cancels it,
reads funds and margin, asks for an iron condor and sends an unknown symbol.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from optrade.domain import utcnow
from quality_service.runs import run_manual_check
from tests.conftest import TEST_API_KEY
from tests.order_service.test_orders_live_providers import (
    CACHE_SECONDS,
    MAX_QUOTE_AGE,
    _session_now,
)
from tests.support.fake_brokers.processes import MARKET_DATA, fake_broker, live_env
from tests.support.orders_processes import AUTH, order_service
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.slow
SDK = "openalgo==1.0.47"
WHEELS = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "optrade-tests" / "wheels"

SCRIPT = r"""
import json, sys
from openalgo import api

host, key = sys.argv[1], sys.argv[2]
client = api(api_key=key, host=host)
out = {}


def step(name, response):
    out[name] = response
    if response.get("status") != "success":  # the rest depends on it: stop, saying why
        sys.exit(json.dumps({name: response}))
    return response


expiries = client.expiry(symbol="NIFTY", exchange="NFO", instrumenttype="options")
step("expiry", expiries)
expiry = expiries["data"][1].replace("-", "")  # the weekly after today's (which ends 15:30)
chain = client.optionchain(underlying="NIFTY", exchange="NSE_INDEX", expiry_date=expiry,
                           strike_count=6)
step("chain", chain)
atm = next(row["ce"] for row in chain["chain"] if row["strike"] == chain["atm_strike"])
lot = atm["lotsize"]
features = json.dumps({"rsi": 61.5, "iv_rank": 0.42})
buy = client.optionsorder(strategy="sdk-atm", underlying="NIFTY", exchange="NSE_INDEX",
                          expiry_date=expiry, offset="ATM", option_type="CE", action="BUY",
                          quantity=lot, product="NRML", ml_score=0.7, model_version="oa-v1",
                          model_hash="abcdef0123456789", features_snapshot=features)
step("buy", buy)
out["buy_status"] = client.orderstatus(order_id=buy["orderid"], strategy="sdk-atm")
out["book_long"] = client.positionbook()
out["open_long"] = client.openposition(strategy="sdk-atm", symbol=buy["symbol"], exchange="NFO",
                                       product="NRML")
sell = client.placeorder(strategy="sdk-atm", symbol=buy["symbol"], action="SELL", exchange="NFO",
                         price_type="MARKET", product="NRML", quantity=lot)
step("sell", sell)
out["book_flat"] = client.positionbook()
out["open_flat"] = client.openposition(strategy="sdk-atm", symbol=buy["symbol"], exchange="NFO",
                                       product="NRML")
limit = client.placeorder(strategy="sdk-limit", symbol=buy["symbol"], action="BUY",
                          exchange="NFO", price_type="LIMIT", product="NRML", quantity=lot,
                          price="1.00")
step("limit", limit)
out["orderbook"] = client.orderbook()
out["cancel"] = client.cancelorder(order_id=limit["orderid"], strategy="sdk-limit")
out["limit_status"] = client.orderstatus(order_id=limit["orderid"], strategy="sdk-limit")
out["tradebook"] = client.tradebook()
out["funds"] = client.funds()
out["margin"] = client.margin(positions=[
    {"symbol": buy["symbol"], "exchange": "NFO", "action": "SELL", "product": "NRML",
     "pricetype": "MARKET", "quantity": str(lot)}])
# NRML on every leg: the SDK's default, MIS, is refused after the 15:15 IST square-off, and this
# test runs at any hour (in a session declared around now).
out["condor"] = client.optionsmultiorder(strategy="condor", underlying="NIFTY",
    exchange="NSE_INDEX", expiry_date=expiry, legs=[
        {"offset": o, "option_type": t, "action": a, "quantity": lot, "product": "NRML"}
        for o, t, a in (("OTM4", "CE", "BUY"), ("OTM4", "PE", "BUY"), ("OTM2", "CE", "SELL"),
                        ("OTM2", "PE", "SELL"))])
out["condor_book"] = client.orderbook(strategy="condor")  # our filter: one strategy's orders
out["unknown"] = client.placeorder(strategy="sdk-atm", symbol="RELIANCE", action="BUY",
                                   exchange="NFO", quantity=lot)
out["odd_lot"] = client.placeorder(strategy="sdk-atm", symbol=buy["symbol"], action="BUY",
                                   exchange="NFO", quantity=lot + 1)
out["analyzer"] = client.analyzerstatus()
out["wrong_key"] = api(api_key="not-the-key", host=host).orderbook()
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Iterator[dict[str, Any]]:
    logs = tmp_path_factory.mktemp("openalgo-sdk")
    broker = fake_broker("openalgo", log_dir=logs).start()
    extra = {"LIVE_MAX_QUOTE_AGE": str(MAX_QUOTE_AGE),
             "OPENALGO_CACHE_SECONDS": str(CACHE_SECONDS)}  # fmt: skip
    env = live_env("openalgo", broker.url, logs / "rec", **extra)
    market = ServiceProcess(MARKET_DATA, log_path=logs / "md.log", env=env)
    market.start()
    orders = order_service(database_url, market.url, "", log_path=logs / "orders.log",
                           NSE_SPECIAL_SESSIONS=_session_now())  # fmt: skip
    try:
        yield {"url": orders.url, "log": logs / "orders.log"}
    finally:
        for process in (orders, market, broker):
            process.stop()


def sdk_python(tmp_path: Path) -> Path:
    """A fresh virtualenv holding only the SDK (and what it requires), from a wheel cache that
    the first run fills from PyPI."""
    venv = tmp_path / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    WHEELS.mkdir(parents=True, exist_ok=True)
    pip = [str(python), "-m", "pip", "--disable-pip-version-check", "--quiet"]
    cached = subprocess.run(
        [*pip, "install", "--no-index", "--find-links", str(WHEELS), SDK],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if cached.returncode != 0:  # not cached yet: fetch the SDK and its requirements once
        fetched = subprocess.run([*pip, "download", "--dest", str(WHEELS), SDK],
                                 capture_output=True, text=True, timeout=900)  # fmt: skip
        assert fetched.returncode == 0, fetched.stderr[-2000:]
        installed = subprocess.run(
            [*pip, "install", "--no-index", "--find-links", str(WHEELS), SDK],
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert installed.returncode == 0, installed.stderr[-2000:]
    probe = subprocess.run([python, "-c", "import optrade"], capture_output=True)
    assert probe.returncode != 0  # nothing of the project in this venv
    return python


def test_a_strategy_written_for_the_openalgo_sdk_paper_trades_here(
    stack: dict[str, Any], tmp_path: Path
) -> None:
    url = stack["url"]
    python = sdk_python(tmp_path)
    script = tmp_path / "strategy.py"
    script.write_text(textwrap.dedent(SCRIPT))
    run = subprocess.run([python, script, url, TEST_API_KEY], capture_output=True, text=True,
                         timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout)
    atm = the_chain_is_labelled_around_the_spot(out["chain"])
    the_sell_closes_the_bought_call(out, atm, url)
    a_far_limit_rests_and_cancels(out)
    funds_margin_and_strategies_answer_in_openalgo_shapes(out, atm["ce"]["lotsize"])
    errors_answer_in_openalgo_shapes(out, atm["ce"]["lotsize"])
    log = stack["log"].read_text()
    assert "order service ready" in log
    assert TEST_API_KEY not in log and "not-the-key" not in log  # keys are never logged


def the_chain_is_labelled_around_the_spot(chain: dict[str, Any]) -> dict[str, Any]:
    assert chain["status"] == "success" and chain["underlying_exchange"] == "NSE_INDEX"
    rows = chain["chain"]
    assert len(rows) == 13  # ATM ± 6 strikes
    strikes = [row["strike"] for row in rows]
    assert chain["atm_strike"] == min(strikes, key=lambda s: abs(s - chain["underlying_ltp"]))
    atm = rows[6]
    assert atm["strike"] == chain["atm_strike"] and atm["ce"]["label"] == "ATM"
    assert rows[5]["ce"]["label"] == "ITM1" and rows[5]["pe"]["label"] == "OTM1"
    assert atm["ce"]["delta"] is not None and atm["ce"]["implied_volatility"] > 0
    return atm


def the_sell_closes_the_bought_call(out: dict[str, Any], atm: dict[str, Any], url: str) -> None:
    lot = atm["ce"]["lotsize"]
    buy = out["buy"]
    assert buy["status"] == "success", buy
    assert buy["symbol"] == atm["ce"]["symbol"] and buy["mode"] == "analyze"
    status = out["buy_status"]["data"]
    assert status["order_status"] == "complete" and status["quantity"] == str(lot)
    assert status["action"] == "BUY" and status["strategy"] == "sdk-atm"
    assert status["average_price"] == atm["ce"]["ask"]  # a MARKET BUY fills at the ask
    long = [p for p in out["book_long"]["data"] if p["symbol"] == buy["symbol"]]
    assert long == [{"symbol": buy["symbol"], "exchange": "NFO", "product": "NRML",
                     "quantity": str(lot), "average_price": f"{atm['ce']['ask']:.2f}",
                     "pnl": "0.00"}]  # fmt: skip
    assert out["open_long"]["quantity"] == str(lot)

    # The SELL closed the long (no short opened): flat, and one trade with both snapshots.
    assert out["sell"]["status"] == "success", out["sell"]
    assert out["open_flat"]["quantity"] == "0"
    flat = [p for p in out["book_flat"]["data"] if p["symbol"] == buy["symbol"]]
    assert [p["quantity"] for p in flat] == ["0"]
    with httpx.Client(base_url=url, headers=AUTH, timeout=30) as ours:
        opened = ours.get(f"/v1/orders/{buy['orderid']}").json()
        closing = ours.get(f"/v1/orders/{out['sell']['orderid']}").json()
        trades = ours.get(f"/v1/positions/{opened['position_id']}/trades").json()["items"]
    assert opened["tag"] == "sdk-atm" and opened["position"]["tag"] == "sdk-atm"
    assert closing["intent"] == "close" and closing["position_id"] == opened["position_id"]
    assert opened["position"]["status"] == "closed"
    [trade] = trades
    assert trade["model_version"] == "oa-v1" and trade["ml_score"] == 0.7
    assert trade["model_hash"] == "abcdef0123456789"
    assert trade["features_snapshot"] == {"rsi": 61.5, "iv_rank": 0.42}
    assert trade["entry_delta"] is not None and trade["exit_delta"] is not None
    assert trade["entry_iv"] is not None and trade["exit_iv"] is not None
    assert trade["exit_reason"] == "client" and trade["units"] == lot
    assert Decimal(trade["entry_price"]) == Decimal(str(atm["ce"]["ask"]))


def a_far_limit_rests_and_cancels(out: dict[str, Any]) -> None:
    buy = out["buy"]
    limit = out["limit"]
    assert limit["status"] == "success", limit
    listed = next(o for o in out["orderbook"]["data"]["orders"] if o["orderid"] == limit["orderid"])
    assert listed["order_status"] == "open" and listed["price"] == 1.0
    assert listed["pricetype"] == "LIMIT"
    assert out["orderbook"]["data"]["statistics"]["total_open_orders"] >= 1
    assert out["cancel"] == {"status": "success", "orderid": limit["orderid"], "mode": "analyze"}
    assert out["limit_status"]["data"]["order_status"] == "cancelled"
    fills = {t["orderid"] for t in out["tradebook"]["data"]}
    assert {buy["orderid"], out["sell"]["orderid"]} <= fills and limit["orderid"] not in fills


def funds_margin_and_strategies_answer_in_openalgo_shapes(out: dict[str, Any], lot: int) -> None:
    # Funds: the default account's page in OpenAlgo's fields (numbers as strings).
    funds = out["funds"]
    assert funds["status"] == "success", funds
    assert {"availablecash", "m2mrealized", "m2munrealized", "utiliseddebits"} <= set(funds["data"])
    assert float(funds["data"]["availablecash"]) > 0
    margin = out["margin"]["data"]
    assert margin["total_margin_required"] == pytest.approx(
        margin["span_margin"] + margin["exposure_margin"]
    )
    # A short call: SPAN covers the scan loss net of its premium, exposure is 2 % of notional.
    assert margin["span_margin"] > 0
    assert margin["exposure_margin"] == pytest.approx(
        0.02 * out["chain"]["underlying_ltp"] * lot, abs=0.01
    )

    # An iron condor: four legs filled as one strategy (atomic here, through the strategies path).
    condor = out["condor"]
    assert condor["status"] == "success" and condor["atomic"] is True, condor
    assert [leg["status"] for leg in condor["results"]] == ["success"] * 4
    booked = out["condor_book"]["data"]["orders"]
    assert len(booked) == 4 and {o["strategy"] for o in booked} == {"condor"}


def errors_answer_in_openalgo_shapes(out: dict[str, Any], lot: int) -> None:
    unknown = out["unknown"]
    assert (unknown["status"], unknown["code"]) == ("error", 400)
    assert "Symbol 'RELIANCE' not found for exchange 'NFO'" in unknown["message"]
    odd = out["odd_lot"]
    assert odd["code"] == 400 and f"not a multiple of the lot size {lot}" in odd["message"]
    assert out["analyzer"]["data"] == {"analyze_mode": True, "mode": "analyze", "total_logs": 0}
    assert out["wrong_key"]["code"] == 403
    assert "Invalid openalgo apikey" in out["wrong_key"]["message"]


def test_a_sell_beyond_the_holding_closes_it_then_opens_a_short_and_the_books_net_them(
    stack: dict[str, Any], engine: Engine
) -> None:
    with httpx.Client(base_url=stack["url"], timeout=60) as raw:

        def post(path: str, **body: Any) -> dict[str, Any]:
            answer = raw.post(f"/api/v1/{path}", json={"apikey": TEST_API_KEY, **body})
            assert answer.status_code == 200, answer.text
            return dict(answer.json())

        expiry = post("expiry", symbol="NIFTY", exchange="NFO", instrumenttype="options")
        expiry_date = expiry["data"][1].replace("-", "")
        found = post("optionsymbol", underlying="NIFTY", exchange="NSE_INDEX",
                     expiry_date=expiry_date, offset="OTM1", option_type="PE")  # fmt: skip
        symbol, lot = found["symbol"], found["lotsize"]
        order = {"strategy": "netting", "symbol": symbol, "exchange": "NFO",
                 "pricetype": "MARKET", "product": "NRML"}  # fmt: skip
        bought = post("placeorder", **order, action="BUY", quantity=str(lot))
        sold = post("placeorder", **order, action="SELL", quantity=str(3 * lot))
        held = post("openposition", strategy="netting", symbol=symbol, exchange="NFO",
                    product="NRML")  # fmt: skip
        # Another strategy's holding of the same symbol is its own: untouched by "netting".
        other = post("placesmartorder", **(order | {"strategy": "smart"}), action="BUY",
                     quantity="0", position_size=str(lot))  # fmt: skip
        book = post("positionbook", strategy="netting")["data"]
        resting = post("placeorder", **(order | {"pricetype": "LIMIT", "price": "0.05"}),
                       action="BUY", quantity=str(lot))  # fmt: skip
        cancelled = post("cancelallorder", strategy="netting")
        squared = post("closeposition", strategy="netting")
        after = post("openposition", strategy="netting", symbol=symbol, exchange="NFO",
                     product="NRML")  # fmt: skip
        smart = post("openposition", strategy="smart", symbol=symbol, exchange="NFO",
                     product="NRML")  # fmt: skip
        off_tick = raw.post("/api/v1/placeorder", json={
            "apikey": TEST_API_KEY, **order, "action": "BUY", "quantity": str(lot),
            "pricetype": "LIMIT", "price": "0.07"})  # fmt: skip
        refused = raw.post("/api/v1/placeorder", json={"apikey": TEST_API_KEY, **order,
                                                       "action": "BUY", "product": "CNC",
                                                       "quantity": str(lot)})  # fmt: skip
    with httpx.Client(base_url=stack["url"], headers=AUTH, timeout=30) as ours:
        first = ours.get(f"/v1/orders/{bought['orderid']}").json()
        short = ours.get(f"/v1/orders/{sold['orderid']}").json()
        closed = [
            trade["id"]
            for position in (first["position_id"], short["position_id"])
            for trade in ours.get(f"/v1/positions/{position}/trades").json()["items"]
        ]
    # The SELL of 3 lots closed the 1 held (one trade) and opened a short of the other 2.
    assert first["position"]["status"] == "closed" and first["position"]["tag"] == "netting"
    assert (short["intent"], short["side"], short["lots"]) == ("open", "SELL", 2)
    assert held["quantity"] == str(-2 * lot)
    assert book == [{"symbol": symbol, "exchange": "NFO", "product": "NRML",
                     "quantity": str(-2 * lot), "average_price": short["average_price"],
                     "pnl": book[0]["pnl"]}]  # fmt: skip
    assert other["status"] == "success" and smart["quantity"] == str(lot)
    assert cancelled["canceled_orders"] == [resting["orderid"]]
    assert squared["message"] == "All Open Positions Squared Off"
    assert after["quantity"] == "0"
    assert off_tick.status_code == 400 and "price" in off_tick.json()["message"]
    assert off_tick.json()["status"] == "error"
    # Sent without model metadata: stored null, and the quality checks count it missing.
    assert len(closed) == 2 and first["model_version"] is None
    run = run_manual_check(engine, now=utcnow(), alert=False)
    metadata = next(c for c in run.checks if c["name"] == "ml_metadata")
    assert set(closed) <= set(metadata["failing_trade_ids"])
    assert refused.status_code == 400
    assert refused.json() == {
        "status": "error",
        "message": "product: CNC is for equity delivery; options take MIS or NRML",
    }
