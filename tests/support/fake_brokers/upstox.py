"""A fake Upstox API v2 server (`tests.support.fake_brokers.upstox:create_app`), per upstox.md.

`Authorization: Bearer <FAKE_ACCESS_TOKEN>` or 401 UDAPI100050; 429 UDAPI10005 (no Retry-After,
as documented). `GET /v2/option/chain`, `/v2/option/contract`, `/v3/market-quote/ltp` (keyed by
`<segment>:<symbol>`, matched on `instrument_token`). OI and volume in units; no timestamp.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.support.fake_brokers.control import Control, control_router
from tests.support.fake_brokers.nse_source import FakeLeg, FakeMarket, bs_greeks, market_from_env

KEYS = {"NIFTY": "NSE_INDEX|Nifty 50", "BANKNIFTY": "NSE_INDEX|Nifty Bank",
        "FINNIFTY": "NSE_INDEX|Nifty Fin Service"}  # fmt: skip
VIX_KEY = "NSE_INDEX|India VIX"


def _error(status: int, code: str, message: str) -> JSONResponse:
    error = {"error_code": code, "message": message, "property_path": None,
             "invalid_value": None, "errorCode": code}  # fmt: skip
    return JSONResponse({"status": "error", "errors": [error]}, status_code=status)


def _leg(market: FakeMarket, leg: FakeLeg | None, expiry: date, strike: float, side: str,
         control: Control, token: int) -> dict[str, Any] | None:  # fmt: skip
    if leg is None:
        return None
    zero = strike in control.zero_strikes
    greeks = bs_greeks(leg, side == "CE", market.spot, strike, expiry, datetime.now(UTC))
    odd = 1 if strike in control.odd_oi_strikes else 0
    return {
        "instrument_key": f"NSE_FO|{token}",
        "market_data": {
            "ltp": 0 if zero else leg.ltp, "volume": 0 if zero else leg.volume_units,
            "oi": 0 if zero else leg.oi_units + odd, "close_price": leg.ltp,
            "bid_price": 0 if zero else leg.bid, "bid_qty": 0,
            "ask_price": 0 if zero else leg.ask, "ask_qty": 0, "prev_oi": 0,
        },
        "option_greeks": {
            "vega": greeks["vega"], "theta": greeks["theta"], "gamma": greeks["gamma"],
            "delta": greeks["delta"], "iv": greeks["implied_volatility"], "pop": 0,
        },
    }  # fmt: skip


def _contract_rows(market: Any, instrument_key: str) -> list[dict[str, Any]]:
    """Two strikes of each listed expiry, both legs, as Upstox's option/contract lists them."""
    data = []
    for expiry in market.expiries(datetime.now(UTC)):
        for strike, (ce, pe) in sorted(market.chains[expiry].items())[:2]:
            for leg, side in ((ce, "CE"), (pe, "PE")):
                if leg is not None:
                    data.append({
                        "name": market.underlying, "segment": "NSE_FO", "exchange": "NSE",
                        "expiry": expiry.isoformat(), "instrument_type": side,
                        "strike_price": strike, "lot_size": leg.lot, "tick_size": 5,
                        "underlying_key": instrument_key, "weekly": True,
                    })  # fmt: skip
    return data


def create_app() -> FastAPI:
    market = market_from_env()
    token = os.environ.get("FAKE_ACCESS_TOKEN", "test-upstox-token")
    control = Control()
    app = FastAPI()
    app.include_router(control_router(control))

    def guard(request: Request, name: str) -> JSONResponse | None:
        control.counts[name] += 1
        if control.mode == "429":
            return _error(429, "UDAPI10005", "Too Many Request Sent")
        if control.mode == "500":
            return _error(500, "UDAPI100500", "Something went wrong")
        if control.mode == "401" or request.headers.get("Authorization") != f"Bearer {token}":
            return _error(401, "UDAPI100050", "Invalid token used to access API")
        return None

    @app.get("/v2/option/chain")
    async def option_chain(request: Request, instrument_key: str, expiry_date: str) -> Any:
        if (refused := guard(request, "option/chain")) is not None:
            return refused
        await control.pause()
        if instrument_key != KEYS.get(market.underlying):
            return _error(400, "UDAPI100011", "Invalid Instrument key")
        expiry = date.fromisoformat(expiry_date)
        rows = market.chains.get(expiry, {})
        data = [
            {
                "expiry": expiry.isoformat(),
                "pcr": None,
                "strike_price": k,
                "underlying_key": instrument_key,
                "underlying_spot_price": market.spot,
                "call_options": _leg(market, ce, expiry, k, "CE", control, 2 * i),
                "put_options": _leg(market, pe, expiry, k, "PE", control, 2 * i + 1),
            }
            for i, (k, (ce, pe)) in enumerate(sorted(rows.items(), reverse=True))
        ]  # fmt: skip  (reverse: row order is undocumented, the client must sort)
        return {"status": "success", "data": data}

    @app.get("/v2/option/contract")
    async def contracts(request: Request, instrument_key: str) -> Any:
        if (refused := guard(request, "option/contract")) is not None:
            return refused
        if instrument_key != KEYS.get(market.underlying):
            return {"status": "success", "data": []}
        return {"status": "success", "data": _contract_rows(market, instrument_key)}

    @app.get("/v3/market-quote/ltp")
    async def ltp(request: Request, instrument_key: str) -> Any:
        if (refused := guard(request, "market-quote/ltp")) is not None:
            return refused
        values = {
            VIX_KEY: ("NSE_INDEX:India VIX", market.vix),
            KEYS[market.underlying]: (f"NSE_INDEX:{market.underlying}", market.spot),
        }
        found = values.get(instrument_key)
        if found is None or found[1] is None:
            return _error(400, "UDAPI100011", "Invalid Instrument key")
        name, value = found
        return {"status": "success", "data": {name: {
            "last_price": value, "instrument_token": instrument_key, "ltq": 0, "volume": 0,
            "cp": value}}}  # fmt: skip

    return app
