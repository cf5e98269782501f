"""A fake market-data service for unit tests: scripted answers served by a real local server."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from optrade.clients.market_data import MarketDataClient, MarketDataClientSettings
from optrade.db.models import Position, Trade
from tests.support.market_data_server import serve_market_data

EXPIRY = date(2025, 12, 2)
EXPIRIES = (EXPIRY, date(2025, 12, 9))
STRIKES = range(25000, 27001, 50)
# Monday 01-Dec-2025 10:00 IST: a market instant before EXPIRY.
MARKET_AT = datetime(2025, 12, 1, 4, 30, tzinfo=UTC)


def full_quote(params: dict[str, str], underlying: str, **overrides: Any) -> dict[str, Any]:
    """A complete, valid quote body for the option the request asks for."""
    body: dict[str, Any] = {
        "underlying": underlying,
        "expiry": params["expiry"],
        "strike": float(params["strike"]),
        "option_type": params["option_type"],
        "lot_size": 75,
        "ltp": 100.05,
        "bid": 100.0,
        "ask": 100.1,
        "oi": 125000.0,
        "volume": 48000,
        "iv": 11.5,
        "delta": 0.52,
        "gamma": 0.0011,
        "theta": -14.2,
        "vega": 9.8,
        "greeks_error": None,
        "iv_source": "own",
        "forward": 26126.1,
        "rate": 0.065,
        "time_to_expiry_years": 0.000676,
        "spot": 26122.65,
        "vix": 11.23,
        "pcr": 0.89,
        "as_of": params["as_of"],
        "provider": "fake",
        "instance": "primary",
        # as a live upstream answers: its own time of the data and its own IV/Greeks
        "upstream_at": params["as_of"],
        "as_of_source": "upstream",
        "broker_iv": 11.9,
        "broker_delta": 0.51,
        "broker_gamma": 0.0012,
        "broker_theta": -13.9,
        "broker_vega": 9.7,
    }
    body.update(overrides)
    return body


@dataclass
class FakeMarket:
    """One fake provider: `mode` picks the behaviour; `quote` overrides fields of good quotes."""

    # ok | error500 | garbage | nan | stale | future | mismatch | invalid | timeout (no answer
    # within the client's read timeout) | down (the connection dropped unanswered)
    mode: str = "ok"
    quote: dict[str, Any] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        params = dict(request.url.params)
        underlying = request.url.path.rsplit("/", 1)[-1]
        if self.mode == "timeout":
            raise httpx.ReadTimeout("read timed out", request=request)
        if self.mode == "down":
            raise httpx.ConnectError("connection refused", request=request)
        if self.mode == "error500":
            return httpx.Response(500, json={"type": "internal_error", "detail": "boom"})
        if self.mode == "garbage":
            return httpx.Response(200, content=b"<html>not json</html>")
        not_found = _not_found(underlying, params)
        if not_found:
            return httpx.Response(404, json={"type": "not_found", "detail": not_found})
        body = full_quote(params, underlying, **self.quote)
        if self.mode == "nan":
            body["delta"] = float("nan")
        elif self.mode == "stale":
            body["as_of"] = (
                datetime.fromisoformat(params["as_of"]) - timedelta(hours=1)
            ).isoformat()
        elif self.mode == "future":
            body["as_of"] = (
                datetime.fromisoformat(params["as_of"]) + timedelta(hours=1)
            ).isoformat()
        elif self.mode == "mismatch":
            body["strike"] = body["strike"] + 50
        elif self.mode == "invalid":
            del body["spot"]
        return httpx.Response(200, content=json.dumps(body).encode())


def _not_found(underlying: str, params: dict[str, str]) -> str | None:
    if underlying != "NIFTY":
        return f"underlying {underlying} is unknown; underlyings: NIFTY"
    if date.fromisoformat(params["expiry"]) not in EXPIRIES:
        listed = ", ".join(e.isoformat() for e in EXPIRIES)
        return f"expiry {params['expiry']} is not listed for NIFTY; expiries: {listed}"
    if Decimal(params["strike"]) not in {Decimal(s) for s in STRIKES}:
        return f"strike {params['strike']} is not on the NIFTY {params['expiry']} chain"
    return None


@contextmanager
def fake_client(
    primary: Callable[[httpx.Request], httpx.Response],
    fallback: Callable[[httpx.Request], httpx.Response] | None = None,
    **settings: Any,
) -> Iterator[MarketDataClient]:
    """A client whose primary (and fallback) instances are local servers of the given handlers."""
    with ExitStack() as servers:
        fallback_url = servers.enter_context(serve_market_data(fallback)) if fallback else None
        config = MarketDataClientSettings(
            primary_url=servers.enter_context(serve_market_data(primary)),
            fallback_url=fallback_url,
            **settings,
        )
        client = MarketDataClient.from_settings(config)
        try:
            yield client
        finally:
            client.close()


def in_process_client(app: Any) -> Any:
    """FastAPI's TestClient for `app`, imported without starlette's warning that it prefers
    `httpx2` (a package this project does not install; pytest turns warnings into errors)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
        from fastapi.testclient import TestClient
    return TestClient(app)


def count_rows(engine: Engine, model: type[Position] | type[Trade]) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(model)).one())
