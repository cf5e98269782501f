"""OpenAlgo (`/api/v1/`, self-hosted before ~30 brokers): facts in shared/providers/openalgo.md.

- `POST /optionchain` {underlying, exchange NSE_INDEX, expiry_date `30DEC25`, with_greeks}: the
  chain; a server older than 2026-08-10 answers 400 to `with_greeks`, so it is asked once more
  without it and never again. `server_ts` (epoch s) is the upstream time when present.
- `POST /quotes` {symbol NIFTY|INDIAVIX, exchange NSE_INDEX}: index values (no timestamp).
- `POST /expiry` {symbol, exchange NFO, instrumenttype options}: `30-DEC-25` dates.
- The key travels in the JSON body (`apikey`); OI and volume are in units, divided by each
  leg's `lotsize` (the instruments table when absent); OpenAlgo's own IV/Greeks (Black-76 on its
  synthetic forward, from LTP) are kept as broker_*.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, date, datetime
from typing import Any

from market_data_service.providers.base import Chain, Leg, StrikeRow
from market_data_service.providers.live.errors import NoData
from market_data_service.providers.live.http import UpstreamClient, UpstreamRejected
from market_data_service.providers.live.units import (
    MalformedAnswer,
    broker_greeks,
    normalised_leg,
    number,
    openalgo_expiry,
    parse_expiry,
    positive,
)

log = logging.getLogger(__name__)

UNDERLYINGS = ("NIFTY", "BANKNIFTY", "FINNIFTY")
VIX_SYMBOL = "INDIAVIX"


class OpenAlgoUpstream:
    """The OpenAlgo REST API, answers normalised to our units."""

    name = "openalgo"

    def __init__(self, client: UpstreamClient, api_key: str, *, strike_count: int | None) -> None:
        self.client = client
        self._api_key = api_key
        self._strike_count = strike_count
        self._with_greeks = True

    def supports(self, underlying: str) -> bool:
        return underlying in UNDERLYINGS

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = await self.client.call("POST", f"/api/v1/{path}", json={"apikey": self._api_key,
                                                                           **body})  # fmt: skip
        if answer.get("status") != "success":
            raise MalformedAnswer(f"/{path} status {answer.get('status')!r}")
        return answer

    async def expiries(self, underlying: str) -> dict[date, int | None]:
        body = {"symbol": underlying, "exchange": "NFO", "instrumenttype": "options"}
        data = (await self._post("expiry", body)).get("data")
        if not isinstance(data, list):
            raise MalformedAnswer("/expiry data is not a list")
        return {parse_expiry(text): None for text in data}

    async def index_ltp(self, underlying: str | None) -> float | None:
        body = {"symbol": underlying or VIX_SYMBOL, "exchange": "NSE_INDEX"}
        data = (await self._post("quotes", body)).get("data")
        if not isinstance(data, dict):
            raise MalformedAnswer("/quotes data is not an object")
        return positive(data.get("ltp"), "quotes ltp")

    async def chain(self, underlying: str, expiry: date, lot_size: int) -> Chain:
        body: dict[str, Any] = {"underlying": underlying, "exchange": "NSE_INDEX",
                                "expiry_date": openalgo_expiry(expiry)}  # fmt: skip
        if self._strike_count:
            body["strike_count"] = self._strike_count
        try:
            answer = await self._post("optionchain", {**body, "with_greeks": True}
                                      if self._with_greeks else body)  # fmt: skip
        except UpstreamRejected as exc:
            if exc.status_code == 400 and "with_greeks" in exc.message and self._with_greeks:
                log.warning("OpenAlgo predates with_greeks (2026-08-10): broker Greeks are off")
                self._with_greeks = False
                return await self.chain(underlying, expiry, lot_size)
            if exc.status_code == 404:
                raise NoData(f"openalgo lists no strikes for {underlying} {expiry}: "
                             f"{exc.message}") from None  # fmt: skip
            raise
        return parse_chain(answer, underlying, expiry, lot_size)


def _leg(raw: Any, default_lot: int, where: str) -> tuple[Leg | None, int | None]:
    if raw is None:
        return None, None
    if not isinstance(raw, dict):
        raise MalformedAnswer(f"{where} is not an object")
    lot = number(raw.get("lotsize"), f"{where} lotsize")
    lot_size = int(lot) if lot and lot > 0 else default_lot
    greeks = broker_greeks(raw.get("implied_volatility"), raw.get("delta"), raw.get("gamma"),
                           raw.get("theta"), raw.get("vega"), where=where)  # fmt: skip
    return normalised_leg(raw, lot_size=lot_size, where=where, broker=greeks), (
        int(lot) if lot and lot > 0 else None
    )


def parse_chain(answer: dict[str, Any], underlying: str, expiry: date, lot_size: int) -> Chain:
    """The `/optionchain` answer as a Chain (vix and pcr filled by the provider)."""
    spot = positive(answer.get("underlying_ltp"), "underlying_ltp")
    if spot is None:
        raise NoData(f"openalgo shows no {underlying} value (market closed or no quote)")
    if "expiry_date" in answer and parse_expiry(answer["expiry_date"]) != expiry:
        raise MalformedAnswer(f"asked for expiry {expiry}, got {answer['expiry_date']!r}")
    raw_rows = answer.get("chain")
    if not isinstance(raw_rows, list):
        raise MalformedAnswer("chain is not a list")
    rows: dict[float, StrikeRow] = {}
    lots: Counter[int] = Counter()
    for raw in raw_rows:
        strike = positive(raw.get("strike") if isinstance(raw, dict) else None, "strike")
        if strike is None:
            raise MalformedAnswer(f"chain row without a strike: {str(raw)[:100]}")
        ce, ce_lot = _leg(raw.get("ce"), lot_size, f"{strike:g} CE")
        pe, pe_lot = _leg(raw.get("pe"), lot_size, f"{strike:g} PE")
        lots.update(lot for lot in (ce_lot, pe_lot) if lot)
        if ce is not None or pe is not None:
            rows[strike] = StrikeRow(strike, ce, pe)
    server_ts = number(answer.get("server_ts"), "server_ts")
    return Chain(
        underlying=underlying,
        expiry=expiry,
        as_of=datetime.now(UTC),  # replaced by the provider: server_ts or our receive time
        spot=spot,
        lot_size=lots.most_common(1)[0][0] if lots else lot_size,
        vix=None,
        pcr=None,
        rows=tuple(rows[k] for k in sorted(rows)),
        upstream_at=datetime.fromtimestamp(server_ts, UTC) if server_ts else None,
    )
