"""A fake OpenAlgo server (`tests.support.fake_brokers.openalgo:create_app`), per openalgo.md.

`POST /api/v1/optionchain|quotes|expiry` with `apikey` in the JSON body (`FAKE_API_KEY`); a bad
key is 403 "Invalid openalgo apikey"; 429 with `retry_after`; 400 "Validation error" for unknown
keys when `FAKE_OLD_OPENALGO=1` (a server before `with_greeks`). Expiry formats as documented:
`30DEC25` in, `30-DEC-25` from /expiry. OI and volume in units; `server_ts` epoch seconds.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, date, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.support.fake_brokers.control import Control, control_router
from tests.support.fake_brokers.nse_source import FakeLeg, FakeMarket, bs_greeks, market_from_env

CHAIN_KEYS = {"apikey", "underlying", "exchange", "expiry_date", "strike_count"}
GREEK_KEYS = {"with_greeks", "interest_rate"}


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"status": "error", "message": message, **extra}, status_code=status)


def _symbol(market: FakeMarket, expiry: date, strike: float, side: str) -> str:
    return f"{market.underlying}{expiry.strftime('%d%b%y').upper()}{strike:g}{side}"


def _leg(market: FakeMarket, leg: FakeLeg | None, expiry: date, strike: float, side: str,
         control: Control, with_greeks: bool) -> dict[str, Any] | None:  # fmt: skip
    if leg is None:
        return None
    out: dict[str, Any] = {
        "symbol": _symbol(market, expiry, strike, side), "label": "",
        "ltp": _moved(leg.ltp, control), "bid": _moved(leg.bid, control),
        "ask": _moved(leg.ask, control), "bid_qty": 0, "ask_qty": 0,
        "open": 0, "high": 0, "low": 0, "prev_close": 0,
        "volume": leg.volume_units, "oi": leg.oi_units + (1 if strike in control.odd_oi_strikes
                                                          else 0),
        "lotsize": leg.lot, "tick_size": 0.05,
    }  # fmt: skip
    if strike in control.zero_strikes:
        out.update(ltp=0, bid=0, ask=0, volume=0, oi=0)
    elif with_greeks and leg.ltp > 0:  # Greek keys are omitted where OpenAlgo cannot compute
        out.update(bs_greeks(leg, side == "CE", market.spot, strike, expiry, datetime.now(UTC)))
    return out


def _moved(price: float, control: Control) -> float:
    """A price moved by the control's factor, on the 0.05 tick."""
    return round(round(price * control.price_factor / 0.05) * 0.05, 2)


def _unknown_fields(body: dict[str, Any], old_server: bool) -> JSONResponse | None:
    """OpenAlgo's 400 for request fields it does not know (an old server knows no Greeks)."""
    allowed = CHAIN_KEYS if old_server else CHAIN_KEYS | GREEK_KEYS
    unknown = sorted(set(body) - allowed)
    if not unknown:
        return None
    return JSONResponse({"status": "error", "message": "Validation error",
                         "errors": {k: ["Unknown field."] for k in unknown}},
                        status_code=400)  # fmt: skip


def _around_the_money(strikes: list[Any], spot: float, count: Any) -> list[Any]:
    """ATM ± `count` strikes when a count is asked for, else every strike."""
    if not count:
        return strikes
    atm = min(range(len(strikes)), key=lambda i: abs(strikes[i] - spot))
    n = int(count)
    return strikes[max(0, atm - n) : atm + n + 1]


def _refusal(control: Control, authorised: bool) -> JSONResponse | None:
    """The error the control mode (or a wrong API key) asks for, else None."""
    if control.mode == "429":
        return _error(429, "Rate limit exceeded. Please try again later.",
                      retry_after=control.retry_after)  # fmt: skip
    if control.mode == "500":
        return _error(500, "broker error")
    if control.mode == "401" or not authorised:
        return _error(403, "Invalid openalgo apikey")
    return None


def create_app() -> FastAPI:
    market = market_from_env()
    api_key = os.environ.get("FAKE_API_KEY", "test-openalgo-key")
    old_server = os.environ.get("FAKE_OLD_OPENALGO") == "1"
    control = Control()
    app = FastAPI()
    app.include_router(control_router(control))

    async def guard(request: Request, name: str) -> dict[str, Any] | JSONResponse:
        control.counts[name] += 1
        body = await request.json()
        if (refused := _refusal(control, body.get("apikey") == api_key)) is not None:
            return refused
        if name == "optionchain":
            await control.pause()
        return dict(body)

    @app.post("/api/v1/optionchain")
    async def optionchain(request: Request) -> Any:
        body = await guard(request, "optionchain")
        if isinstance(body, JSONResponse):
            return body
        if (refused := _unknown_fields(body, old_server)) is not None:
            return refused
        expiry = datetime.strptime(str(body.get("expiry_date")), "%d%b%y").date()
        rows = market.chains.get(expiry)
        if not rows:
            return _error(404, f"No strikes found for expiry {body.get('expiry_date')}")
        strikes = _around_the_money(sorted(rows), market.spot, body.get("strike_count"))
        greeks = bool(body.get("with_greeks"))
        chain = [
            {"strike": k,
             "ce": _leg(market, rows[k][0], expiry, k, "CE", control, greeks),
             "pe": _leg(market, rows[k][1], expiry, k, "PE", control, greeks)}
            for k in strikes
        ]  # fmt: skip
        return {
            "status": "success", "underlying": market.underlying,
            "underlying_ltp": market.spot, "underlying_prev_close": market.spot,
            "expiry_date": body["expiry_date"], "server_ts": int(time.time() - control.lag),
            "atm_strike": min(strikes, key=lambda k: abs(k - market.spot)),
            "quotes_included": True, "greeks_included": greeks, "chain": chain,
        }  # fmt: skip

    @app.post("/api/v1/quotes")
    async def quotes(request: Request) -> Any:
        body = await guard(request, "quotes")
        if isinstance(body, JSONResponse):
            return body
        symbol, exchange = body.get("symbol"), body.get("exchange")
        values = {"INDIAVIX": market.vix, market.underlying: market.spot}
        if exchange != "NSE_INDEX" or values.get(symbol) is None:
            return _error(400, f"Symbol '{symbol}' not found for exchange '{exchange}'")
        ltp = values[symbol]
        return {"status": "success", "data": {"open": ltp, "high": ltp, "low": ltp, "ltp": ltp,
                                              "ask": 0, "bid": 0, "prev_close": ltp,
                                              "volume": 0}}  # fmt: skip

    @app.post("/api/v1/expiry")
    async def expiry(request: Request) -> Any:
        body = await guard(request, "expiry")
        if isinstance(body, JSONResponse):
            return body
        if body.get("symbol") != market.underlying:
            return {"status": "success", "message": "no expiries", "data": []}
        dates = market.expiries(datetime.now(UTC))
        return {"status": "success", "message": f"Found {len(dates)} expiry dates",
                "data": [d.strftime("%d-%b-%y").upper() for d in dates]}  # fmt: skip

    return app
