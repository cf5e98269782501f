"""Fake market data for the backfill tests: a scripted quote source and a served fake instance."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import httpx

from optrade.clients.market_data import (
    CapturedQuote,
    MarketDataClient,
    MarketDataClientSettings,
    QuoteRequest,
    QuoteUnavailable,
)
from optrade.domain import utcnow
from optrade.schemas.market import OptionQuote
from tests.support.market_data_server import serve_market_data

GREEKS = {"delta": 0.41, "gamma": 0.0009, "theta": -9.5, "vega": 7.25, "iv": 13.4}


def quote_for(request: QuoteRequest, **overrides: Any) -> OptionQuote:
    """A complete quote for exactly the option and instant asked for."""
    values: dict[str, Any] = {
        "underlying": request.underlying, "expiry": request.expiry,
        "strike": float(request.strike), "option_type": request.option_type, "lot_size": 75,
        "ltp": 88.4, "bid": 88.35, "ask": 88.45, "oi": 91000.0, "volume": 31000,
        **GREEKS, "spot": 26011.3, "vix": 11.9, "pcr": 0.93, "as_of": request.as_of,
        "provider": "fake",
    }  # fmt: skip
    return OptionQuote(**(values | overrides))


@dataclass
class ScriptedQuotes:
    """A quote source whose answer each test scripts; remembers what it was asked."""

    down: bool = False
    provider: str = "fake"  # the market-data provider the quotes say they came from
    before_answer: Callable[[QuoteRequest], None] | None = None
    requests: list[QuoteRequest] = field(default_factory=list)

    def capture_quote(
        self, request: QuoteRequest, *, refuse: Callable[[OptionQuote], str | None] | None = None
    ) -> CapturedQuote:
        self.requests.append(request)
        if self.before_answer is not None:
            self.before_answer(request)
        if self.down:
            raise QuoteUnavailable("all providers", "primary: timeout; fallback: HTTP 503")
        quote = quote_for(request, provider=self.provider, instance="primary")
        refused = refuse(quote) if refuse is not None else None
        if refused:
            raise QuoteUnavailable("all providers", f"primary: {refused}")
        return CapturedQuote(quote, "primary", utcnow())


@contextmanager
def served_client(answer: Callable[[httpx.Request], httpx.Response]) -> Iterator[MarketDataClient]:
    """The real client (primary only) in front of a local server of `answer`."""
    with serve_market_data(answer) as url:
        client = MarketDataClient.from_settings(
            MarketDataClientSettings(primary_url=url, fallback_url=None)
        )
        try:
            yield client
        finally:
            client.close()


def answer_quotes(request: httpx.Request) -> httpx.Response:
    """A fake instance's handler: a quote for whatever option and instant is asked for."""
    params = request.url.params
    asked = QuoteRequest(
        underlying=request.url.path.rsplit("/", 1)[-1],
        expiry=date.fromisoformat(params["expiry"]),
        strike=Decimal(params["strike"]),
        option_type=params["option_type"],
        as_of=datetime.fromisoformat(params["as_of"]),
    )
    return httpx.Response(200, json=quote_for(asked).model_dump(mode="json"))


def in_process(app: Any) -> Any:
    """FastAPI's TestClient, imported without starlette's warning about `httpx2`."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
        from fastapi.testclient import TestClient
    return TestClient(app)
