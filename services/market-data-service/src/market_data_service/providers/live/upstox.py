"""Upstox API v2 (`Authorization: Bearer <token>`): facts in shared/providers/upstox.md.

- `GET /v2/option/chain?instrument_key=NSE_INDEX|Nifty 50&expiry_date=YYYY-MM-DD`: the whole
  chain, one row per strike (order undocumented: sorted here); no timestamp, so `as_of` is our
  receive time. The row `pcr` is per strike and ignored; ours is over the chain.
- `GET /v2/option/contract?instrument_key=...`: contracts; distinct `expiry` = listed expiries,
  each with its `lot_size` (OI and volume arrive in units and are divided by it).
- `GET /v3/market-quote/ltp?instrument_key=...`: index and India VIX values; the answer is keyed
  by `<segment>:<symbol>`, so the entry is matched on `instrument_token`.
- The broker's `option_greeks` (iv percent, delta, gamma, theta, vega) are kept as broker_*.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from market_data_service.providers.base import Chain, StrikeRow
from market_data_service.providers.live.errors import NoData
from market_data_service.providers.live.http import UpstreamClient, UpstreamRejected
from market_data_service.providers.live.units import (
    MalformedAnswer,
    broker_greeks,
    normalised_leg,
    number,
    parse_expiry,
    positive,
)

INSTRUMENT_KEYS = {
    "NIFTY": "NSE_INDEX|Nifty 50",
    "BANKNIFTY": "NSE_INDEX|Nifty Bank",
    "FINNIFTY": "NSE_INDEX|Nifty Fin Service",
}
VIX_KEY = "NSE_INDEX|India VIX"


class UpstoxUpstream:
    """The Upstox REST API, answers normalised to our units."""

    name = "upstox"

    def __init__(self, client: UpstreamClient) -> None:
        self.client = client

    def supports(self, underlying: str) -> bool:
        return underlying in INSTRUMENT_KEYS

    async def _get(self, path: str, params: dict[str, str]) -> Any:
        answer = await self.client.call("GET", path, params=params)
        if answer.get("status") != "success":
            raise MalformedAnswer(f"{path} status {answer.get('status')!r}")
        return answer.get("data")

    async def expiries(self, underlying: str) -> dict[date, int | None]:
        data = await self._get("/v2/option/contract",
                               {"instrument_key": INSTRUMENT_KEYS[underlying]})  # fmt: skip
        if not isinstance(data, list):
            raise MalformedAnswer("/v2/option/contract data is not a list")
        listed: dict[date, int | None] = {}
        for contract in data:
            if not isinstance(contract, dict):
                raise MalformedAnswer("a contract is not an object")
            lot = number(contract.get("lot_size"), "lot_size")
            listed[parse_expiry(contract.get("expiry"))] = int(lot) if lot and lot > 0 else None
        return listed

    async def index_ltp(self, underlying: str | None) -> float | None:
        key = INSTRUMENT_KEYS[underlying] if underlying else VIX_KEY
        data = await self._get("/v3/market-quote/ltp", {"instrument_key": key})
        if not isinstance(data, dict):
            raise MalformedAnswer("/v3/market-quote/ltp data is not an object")
        entries = [e for e in data.values() if isinstance(e, dict)]
        matching = [e for e in entries if e.get("instrument_token") == key] or entries[:1]
        return positive(matching[0].get("last_price"), "last_price") if matching else None

    async def chain(self, underlying: str, expiry: date, lot_size: int) -> Chain:
        params = {"instrument_key": INSTRUMENT_KEYS[underlying], "expiry_date": expiry.isoformat()}
        try:
            data = await self._get("/v2/option/chain", params)
        except UpstreamRejected as exc:
            if exc.status_code == 404:
                raise NoData(
                    f"upstox has no chain for {underlying} {expiry}: {exc.message}"
                ) from None
            raise
        return parse_chain(data, underlying, expiry, lot_size)


def _leg(raw: Any, lot_size: int, where: str) -> Any:
    if raw is None:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("market_data"), dict):
        raise MalformedAnswer(f"{where} has no market_data")
    market = raw["market_data"]
    greeks = raw.get("option_greeks")
    greeks = greeks if isinstance(greeks, dict) else {}
    fields = {"ltp": market.get("ltp"), "bid": market.get("bid_price"),
              "ask": market.get("ask_price"), "oi": market.get("oi"),
              "volume": market.get("volume")}  # fmt: skip
    broker = broker_greeks(greeks.get("iv"), greeks.get("delta"), greeks.get("gamma"),
                           greeks.get("theta"), greeks.get("vega"), where=where)  # fmt: skip
    return normalised_leg(fields, lot_size=lot_size, where=where, broker=broker)


def parse_chain(data: Any, underlying: str, expiry: date, lot_size: int) -> Chain:
    """The `/v2/option/chain` rows as a Chain (vix and pcr filled by the provider)."""
    if not isinstance(data, list):
        raise MalformedAnswer("/v2/option/chain data is not a list")
    if not data:
        raise NoData(f"upstox answered an empty chain for {underlying} {expiry}")
    rows: dict[float, StrikeRow] = {}
    spot = None
    for raw in data:
        if not isinstance(raw, dict):
            raise MalformedAnswer("a chain row is not an object")
        if "expiry" in raw and parse_expiry(raw["expiry"]) != expiry:
            raise MalformedAnswer(f"asked for expiry {expiry}, got {raw['expiry']!r}")
        strike = positive(raw.get("strike_price"), "strike_price")
        if strike is None:
            raise MalformedAnswer("a chain row has no strike_price")
        spot = spot or positive(raw.get("underlying_spot_price"), "underlying_spot_price")
        ce = _leg(raw.get("call_options"), lot_size, f"{strike:g} CE")
        pe = _leg(raw.get("put_options"), lot_size, f"{strike:g} PE")
        if ce is not None or pe is not None:
            rows[strike] = StrikeRow(strike, ce, pe)
    if spot is None:
        raise NoData(f"upstox shows no {underlying} value (market closed or no quote)")
    return Chain(
        underlying=underlying, expiry=expiry, as_of=datetime.now(UTC), spot=spot,
        lot_size=lot_size, vix=None, pcr=None, rows=tuple(rows[k] for k in sorted(rows)),
    )  # fmt: skip
