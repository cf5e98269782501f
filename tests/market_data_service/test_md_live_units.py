"""Units and formats of the live upstreams, normalised once at the edge (providers/live/units.py),
and the adapters' reading of documented answers (shared/providers/*.md) without a network."""

from __future__ import annotations

import asyncio
import json
import math
from datetime import date

import httpx
import pytest

from market_data_service.providers.live import openalgo, upstox
from market_data_service.providers.live.errors import NoData, ProviderUnavailable
from market_data_service.providers.live.http import UpstreamClient
from market_data_service.providers.live.units import (
    MalformedAnswer,
    broker_greeks,
    normalised_leg,
    openalgo_expiry,
    parse_expiry,
    to_contracts,
)

DEC30 = date(2025, 12, 30)


@pytest.mark.parametrize("text", ["30DEC25", "30-DEC-25", "30-Dec-2025", "2025-12-30", "30dec25"])
def test_every_documented_expiry_format_is_one_date(text: str) -> None:
    assert parse_expiry(text) == DEC30


def test_openalgo_takes_its_chain_expiry_without_dashes() -> None:
    assert openalgo_expiry(DEC30) == "30DEC25" and openalgo_expiry(date(2026, 1, 6)) == "06JAN26"


@pytest.mark.parametrize("bad", ["30/12/2025", "", None, 20251230])
def test_an_unknown_expiry_is_malformed(bad: object) -> None:
    with pytest.raises(MalformedAnswer):
        parse_expiry(bad)


def test_units_become_contracts_and_odd_units_are_flagged() -> None:
    # Zerodha via OpenAlgo: OI 955110 units at lot 65 (openalgo.md, issue #2045) = 14694 lots
    assert to_contracts(955110, 65, "oi") == (14694.0, None)
    assert to_contracts(750, 75, "oi") == (10.0, None)  # Upstox's sample: 750 = 10 lots of 75
    contracts, warning = to_contracts(751, 75, "oi")
    assert contracts == pytest.approx(751 / 75) and warning is not None
    assert "751 units is not a multiple of lot 75" in warning


def test_a_leg_of_all_zeros_is_missing_data_not_a_price_of_zero() -> None:
    leg = normalised_leg({"ltp": 0, "bid": 0, "ask": 0, "oi": 0, "volume": 0}, lot_size=75,
                         where="26000 CE", broker=None)  # fmt: skip
    assert (leg.ltp, leg.bid, leg.ask, leg.oi, leg.volume) == (None, None, None, None, None)
    assert leg.units_warning is not None and "all-zero" in leg.units_warning


def test_a_quoted_leg_keeps_zero_oi_and_drops_a_missing_bid() -> None:
    leg = normalised_leg({"ltp": 311.6, "bid": 0, "ask": 312.1, "oi": 0, "volume": 2841075},
                         lot_size=75, where="24550 CE", broker=None)  # fmt: skip
    assert (leg.ltp, leg.bid, leg.ask, leg.oi, leg.volume) == (311.6, None, 312.1, 0.0, 37881)


def test_broker_iv_zero_with_zero_greeks_is_not_computed() -> None:
    assert broker_greeks(0, 0, 0, 0, 0, where="x") is None
    assert broker_greeks(None, None, None, None, None, where="x") is None
    iv_only = broker_greeks(14.92, 0, 0, 0, 0, where="x")
    assert iv_only is not None and iv_only.iv == 14.92 and iv_only.delta is None
    full = broker_greeks(50.78, -0.0013, 0, -1.2461, 0.0568, where="x")  # Upstox's sample
    assert full is not None and (full.iv, full.delta, full.theta) == (50.78, -0.0013, -1.2461)


@pytest.mark.parametrize("value", [math.nan, math.inf, "12.5", True])
def test_a_non_finite_or_non_numeric_value_is_malformed(value: object) -> None:
    with pytest.raises(MalformedAnswer):
        normalised_leg({"ltp": value}, lot_size=75, where="x", broker=None)


# -- the adapters on documented answers ------------------------------------------------------


def client(handler: object, provider: str = "openalgo") -> UpstreamClient:
    transport = httpx.MockTransport(handler)  # type: ignore[arg-type]
    return UpstreamClient(provider, "http://upstream.test", transport=transport,
                          secrets=["sekret-key"])  # fmt: skip


OPENALGO_SAMPLE = {  # openalgo.md, /optionchain response
    "status": "success", "underlying": "NIFTY", "underlying_ltp": 24560.15,
    "expiry_date": "30DEC25", "server_ts": 1766988000, "chain": [
        {"strike": 24550.0, "ce": {
            "symbol": "NIFTY30DEC2524550CE", "ltp": 311.6, "bid": 311.1, "ask": 312.1,
            "volume": 2841075, "oi": 4218300, "lotsize": 75, "implied_volatility": 14.92,
            "delta": 0.5221, "gamma": 0.000536, "theta": -9.8729, "vega": 19.8452},
         "pe": None},
        {"strike": 24600.0, "ce": {"ltp": 0, "bid": 0, "ask": 0, "volume": 0, "oi": 0,
                                   "lotsize": 75}, "pe": None},
    ],
}  # fmt: skip


def test_openalgo_chain_sample_in_our_units() -> None:
    chain = openalgo.parse_chain(OPENALGO_SAMPLE, "NIFTY", DEC30, 65)
    assert chain.spot == 24560.15 and chain.lot_size == 75  # the legs' lotsize wins the table
    assert chain.upstream_at is not None and chain.upstream_at.timestamp() == 1766988000
    ce = chain.rows[0].ce
    assert ce is not None and ce.oi == 4218300 / 75 and ce.volume == 2841075 // 75
    assert ce.broker is not None and ce.broker.iv == 14.92 and chain.rows[0].pe is None
    zero = chain.rows[1].ce
    assert zero is not None and zero.ltp is None and zero.oi is None


def test_openalgo_without_a_spot_is_no_data() -> None:
    with pytest.raises(NoData):
        openalgo.parse_chain(OPENALGO_SAMPLE | {"underlying_ltp": 0}, "NIFTY", DEC30, 75)


def test_an_old_openalgo_is_asked_again_without_with_greeks() -> None:
    bodies: list[dict[str, object]] = []

    def old_server(request: httpx.Request) -> httpx.Response:
        sent = json.loads(request.content)
        bodies.append(sent)
        if "with_greeks" in sent:  # marshmallow without `unknown`: 400 naming the field
            refusal = {"status": "error", "message": "Validation error",
                       "errors": {"with_greeks": ["Unknown field."]}}  # fmt: skip
            return httpx.Response(400, json=refusal)
        return httpx.Response(200, json=OPENALGO_SAMPLE)

    adapter = openalgo.OpenAlgoUpstream(client(old_server), "sekret-key", strike_count=None)
    chain = asyncio.run(adapter.chain("NIFTY", DEC30, 75))
    assert chain.rows[0].ce is not None and [("with_greeks" in b) for b in bodies] == [True, False]
    asyncio.run(adapter.chain("NIFTY", DEC30, 75))
    assert "with_greeks" not in bodies[-1]  # never asked again


def test_upstream_errors_map_and_never_carry_the_secret() -> None:
    def refuse(_: httpx.Request) -> httpx.Response:
        return httpx.Response(503, json={"status": "error", "message": "bad key sekret-key"})

    adapter = openalgo.OpenAlgoUpstream(client(refuse), "sekret-key", strike_count=None)
    with pytest.raises(ProviderUnavailable) as caught:
        asyncio.run(adapter.chain("NIFTY", DEC30, 75))
    assert "HTTP 503" in caught.value.detail and "sekret-key" not in caught.value.detail


UPSTOX_ROWS = [  # upstox.md sample rows, out of order (the order is undocumented)
    {"expiry": "2025-12-30", "pcr": 7515.3, "strike_price": 21150, "underlying_spot_price": 22976.2,
     "call_options": {"market_data": {"ltp": 2449.9, "volume": 0, "oi": 750, "bid_price": 1856.65,
                                      "ask_price": 1941.65},
                      "option_greeks": {"vega": 4.1731, "theta": -472.8941, "gamma": 0.0001,
                                        "delta": 0.743, "iv": 262.31}},
     "put_options": None},
    {"expiry": "2025-12-30", "pcr": None, "strike_price": 21100, "underlying_spot_price": 22976.2,
     "call_options": None,
     "put_options": {"market_data": {"ltp": 0.3, "volume": 22315725, "oi": 5636475,
                                     "bid_price": 0.3, "ask_price": 0.35},
                     "option_greeks": {"vega": 0, "theta": 0, "gamma": 0, "delta": 0, "iv": 0}}},
]  # fmt: skip


def test_upstox_chain_sample_sorted_in_contracts_with_broker_greeks() -> None:
    chain = upstox.parse_chain(UPSTOX_ROWS, "NIFTY", DEC30, 75)
    assert [r.strike for r in chain.rows] == [21100, 21150] and chain.spot == 22976.2
    assert chain.upstream_at is None  # no timestamp: the provider stamps its receive time
    put = chain.rows[0].pe
    assert put is not None and put.oi == 75153 and put.volume == 297543 and put.broker is None
    call = chain.rows[1].ce
    assert call is not None and call.oi == 10 and call.broker is not None
    assert call.broker.iv == 262.31


def test_upstox_rows_of_another_expiry_are_malformed() -> None:
    with pytest.raises(MalformedAnswer):
        upstox.parse_chain(UPSTOX_ROWS, "NIFTY", date(2026, 1, 6), 75)
