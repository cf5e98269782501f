"""A minimal FastAPI quote server: one ~1 KB option quote per GET, built per request."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI


def _quote(underlying: str, expiry: str, strike: float, option_type: str) -> dict[str, Any]:
    """About 1 KB of JSON shaped like the market-data service's quote."""
    return {
        "underlying": underlying, "expiry": expiry, "strike": strike,
        "option_type": option_type, "lot_size": 75, "tick_size": 0.05,
        "as_of": datetime.now(UTC).isoformat(), "source": "reference",
        "instance": "primary", "upstream_time": datetime.now(UTC).isoformat(),
        "bid": 38.40, "ask": 38.55, "ltp": 38.50, "bid_qty": 1500, "ask_qty": 1725,
        "volume": 98000, "oi": 125000, "oi_change": -3200, "iv": 14.2, "delta": 0.45,
        "gamma": 0.002, "theta": -12.5, "vega": 8.1, "rho": 1.2, "spot": 26032.20,
        "future": 26080.15, "vix": 11.8, "pcr": 0.92, "max_pain": 26000.0,
        "atm_strike": 26050.0, "days_to_expiry": 7, "risk_free_rate": 0.065,
        "dividend_yield": 0.012, "greeks_source": "computed", "iv_source": "solved",
        "broker_delta": 0.452, "broker_gamma": 0.0021, "broker_theta": -12.4,
        "broker_vega": 8.05, "broker_iv": 14.25, "spread": 0.15, "mid": 38.475,
        "previous_close": 36.10, "open": 36.5, "high": 40.2, "low": 35.9,
        "change": 2.4, "change_percent": 6.65, "stale": False, "stale_after_s": 60,
        "market_status": "open", "session": "regular", "exchange": "NFO",
        "symbol": f"{underlying}{expiry.replace('-', '')}{int(strike)}{option_type}",
    }  # fmt: skip


def create_app() -> FastAPI:
    app = FastAPI(title="reference quote server", docs_url=None, redoc_url=None)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/quote/{underlying}")
    async def quote(
        underlying: str, expiry: str, strike: float, option_type: str
    ) -> dict[str, Any]:
        return _quote(underlying, expiry, strike, option_type)

    return app
