"""Chains and settlement values through the market-data client: one expiry's chain at one instant
from one instance (with the fallback and breakers of a quote), one contract of it as a captured
quote, and the settlement value through the breakers.

The real market-data service on the NSE snapshots of 02-Dec-2025 (the data README's worked
example: the NIFTY 26100 PE's ask at 09:34:45 IST is 38.50; NSE's official close that day is
26032.20), and fake instances (real local servers) for the failures.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from optrade.clients.market_data import (
    CapturedChain,
    MarketDataClient,
    MarketDataClientSettings,
    QuoteRejected,
    QuoteRequest,
    QuoteUnavailable,
)
from optrade.domain import IST
from optrade.schemas.market import SettlementValue
from tests.conftest import INDIA_VIX_FILE, NSE_SNAPSHOT_DIR
from tests.support.orders_fakes import fake_client
from tests.support.orders_processes import market_data
from tests.support.processes import ServiceProcess

EXPIRY = date(2025, 12, 2)
OPENED_AT = datetime(2025, 12, 2, 9, 34, 45, tzinfo=IST)
AT = datetime(2025, 12, 1, 4, 30, tzinfo=UTC)  # Monday 01-Dec-2025 10:00 IST


@pytest.fixture(scope="module")
def replay_market() -> Iterator[ServiceProcess]:
    replay = {
        "MARKET_DATA_PROVIDER": "nse-replay",
        "NSE_REPLAY_DIR": str(NSE_SNAPSHOT_DIR),
        "INDIA_VIX_FILE": str(INDIA_VIX_FILE),
    }
    with market_data("primary", **replay) as primary:
        yield primary


def replay_client(url: str) -> MarketDataClient:
    settings = MarketDataClientSettings(primary_url=url, fallback_url=None, read_timeout=10)
    return MarketDataClient.from_settings(settings)


@pytest.mark.slow
def test_a_chain_is_one_observation_and_its_quote_is_the_services_quote(
    replay_market: ServiceProcess,
) -> None:
    client = replay_client(replay_market.url)

    async def chain_and_quote() -> tuple[CapturedChain, Any]:
        try:
            chain = await client.afetch_chain("NIFTY", EXPIRY, OPENED_AT)
            request = QuoteRequest("NIFTY", EXPIRY, Decimal("26100"), "PE", OPENED_AT)
            return chain, await client.acapture_quote(request)
        finally:
            await client.aclose()

    captured, asked = asyncio.run(chain_and_quote())
    assert (captured.source, captured.provider, captured.skipped) == ("primary", "nse-replay", ())
    chain = captured.chain
    assert (chain.underlying, chain.expiry, chain.lot_size) == ("NIFTY", EXPIRY, 75)
    assert len(chain.strikes) > 50 and chain.pcr is not None and chain.vix is not None
    put = captured.quote(26100, "PE")
    assert put.quote.ask == 38.50  # the worked example's fill
    assert (put.source, put.captured_at) == (captured.source, captured.captured_at)
    assert put.quote.model_dump() == asked.quote.model_dump()  # every snapshot field alike
    with pytest.raises(QuoteRejected) as caught:
        captured.quote(26125, "PE")
    assert caught.value.field == "strike"


@pytest.mark.slow
def test_the_settlement_value_comes_through_the_client(replay_market: ServiceProcess) -> None:
    client = replay_client(replay_market.url)
    try:
        value, source = client.fetch_settlement("NIFTY", EXPIRY)
    finally:
        client.close()
    assert (value.settlement_price, value.price_source, source) == (
        26032.20,
        "official_close",
        "primary",
    )


def chain_body(params: dict[str, str], **overrides: Any) -> dict[str, Any]:
    """A small valid chain of the asked expiry at the asked instant."""
    leg = {"ltp": 100.05, "bid": 100.0, "ask": 100.1, "oi": 125000.0, "volume": 48000,
           "iv": 11.5, "delta": 0.52, "gamma": 0.0011, "theta": -14.2, "vega": 9.8,
           "iv_source": "own", "symbol": "ignored by the client"}  # fmt: skip
    return {
        "underlying": "NIFTY", "expiry": params["expiry"], "lot_size": 75, "spot": 26122.65,
        "vix": 11.23, "pcr": 0.89, "as_of": params["as_of"], "time_to_expiry_years": 0.0031,
        "rate": 0.065, "forward": 26126.1, "provider": "fake", "instance": "primary",
        "strikes": [{"strike": s, "ce": leg, "pe": {**leg, "delta": -0.48}}
                    for s in (26050.0, 26100.0, 26150.0)],
        **overrides,
    }  # fmt: skip


class FakeChains:
    """A fake instance serving chains and settlement values; `mode` picks the failure."""

    def __init__(self, mode: str = "ok", **overrides: Any) -> None:
        self.mode, self.overrides = mode, overrides
        self.paths: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        params = dict(request.url.params)
        if self.mode == "error500":
            return httpx.Response(500, json={"type": "internal_error", "detail": "boom"})
        if request.url.path.startswith("/v1/settlement/"):
            return httpx.Response(200, json=settlement_body(params["expiry"]))
        return httpx.Response(200, json=chain_body(params, **self.overrides))


def settlement_body(expiry: str) -> dict[str, Any]:
    return SettlementValue(
        underlying="NIFTY", expiry=date.fromisoformat(expiry), settlement_price=26032.2,
        price_source="close", lot_size=75, as_of=datetime(2025, 12, 2, 10, 0, tzinfo=UTC),
        provider="fake", strikes=[],
    ).model_dump(mode="json")  # fmt: skip


def test_a_chain_is_asked_for_the_expiry_and_instant_and_falls_back() -> None:
    primary, fallback = FakeChains("error500"), FakeChains()
    with fake_client(primary, fallback) as client:
        captured = run(client.afetch_chain("NIFTY", EXPIRY, AT), client)
    assert captured.source == "fallback" and captured.skipped == ("primary: HTTP 500",)
    assert primary.paths == fallback.paths == ["/v1/chain/NIFTY"]
    call = captured.quote(Decimal("26100.00"), "CE")
    assert (call.quote.strike, call.quote.option_type, call.quote.bid) == (26100, "CE", 100.0)
    assert (call.quote.spot, call.quote.lot_size, call.quote.as_of) == (26122.65, 75, AT)
    assert call.source == "fallback" and call.skipped == captured.skipped


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"as_of": "2025-12-01T03:00:00+00:00"}, "primary: stale chain"),
        ({"expiry": "2025-12-09"}, "primary: chain is for"),
        ({"spot": "NaN"}, "primary: non-finite spot"),
        ({"strikes": []}, "primary: chain has no strikes"),
        ({"lot_size": None}, "primary: malformed chain"),
    ],
)
def test_an_unusable_chain_is_not_taken(overrides: dict[str, Any], reason: str) -> None:
    with fake_client(FakeChains(**overrides), FakeChains()) as client:
        captured = run(client.afetch_chain("NIFTY", EXPIRY, AT), client)
    assert captured.source == "fallback" and captured.skipped[0].startswith(reason)


def test_a_stale_chain_opens_no_breaker_but_a_failing_one_does() -> None:
    stale = FakeChains(as_of="2025-12-01T03:00:00+00:00")
    with fake_client(stale, FakeChains(), breaker_fail_max=2) as client:
        for _ in range(3):
            run(client.afetch_chain("NIFTY", EXPIRY, AT), client)
        assert client.breaker_states()["primary"] == "closed"
    with fake_client(FakeChains("error500"), FakeChains(), breaker_fail_max=2) as client:
        for _ in range(3):
            skipped = run(client.afetch_chain("NIFTY", EXPIRY, AT), client).skipped
        assert skipped == ("primary: circuit breaker open, not asked",)


def test_the_settlement_value_goes_through_the_breakers_and_the_fallback() -> None:
    primary, fallback = FakeChains("error500"), FakeChains()
    with fake_client(primary, fallback, breaker_fail_max=2, breaker_reset_timeout=60) as client:
        for _ in range(3):
            value, source = client.fetch_settlement("NIFTY", EXPIRY)
            assert (value.settlement_price, source) == (26032.2, "fallback")
        assert client.breaker_states()["primary"] == "open"
    assert len(primary.paths) == 2  # the open breaker spared the third call
    assert fallback.paths == ["/v1/settlement/NIFTY"] * 3


def test_no_instance_answering_a_settlement_is_unavailable() -> None:
    with (
        fake_client(FakeChains("error500"), FakeChains("error500")) as client,
        pytest.raises(QuoteUnavailable, match="primary: HTTP 500; fallback: HTTP 500"),
    ):
        client.fetch_settlement("NIFTY", EXPIRY)


def run(call: Any, client: MarketDataClient) -> Any:
    """Await `call` on a fresh loop the way a service does, closing that loop's pools after."""

    async def awaited() -> Any:
        try:
            return await call
        finally:
            await client.aclose()

    return asyncio.run(awaited())
