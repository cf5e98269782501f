"""Greek P&L attribution of a closed trade: the part of its P&L each Greek explains.

The formula is a second-order Taylor expansion of the option premium around the entry snapshot:

    dS   = exit_spot - entry_spot                 index points
    dIV  = exit_iv - entry_iv                     vol points (IV is in percent)
    days = market seconds held / 22 500 s × 365/252   market days (see below)

    delta = Δ_entry · dS
    gamma = ½ · Γ_entry · dS²
    theta = Θ_entry · days
    vega  = ν_entry · dIV

each scaled from premium per unit to rupees by lots × lot_size × side sign (+1 BUY, −1 SELL),
and residual = pnl − (delta + gamma + theta + vega).

Market time, not wall-clock: an option decays only while its market moves, so `days` counts the
trading-session seconds (09:15-15:30 IST on NSE trading days) between the entry and exit
snapshots' market instants; a position opened on Saturday and closed on Sunday held none and is
charged no theta. One full session stands for 365/252 calendar days of theta (the usual
trading-day scaling), so a year of sessions decays a year of calendar theta. The order service
stores the seconds per trade (`market_seconds_held`); older rows are computed from the instants.

Why the entry Greeks and not the average of entry and exit: the expansion is taken around the
state the model decided in, and the gamma term already accounts for the delta drifting over dS;
averaging the deltas as well would count that drift twice. The entry snapshot is also the one
that is present more often (an open needs a provider, a close does not).

A part is null when an input it needs is missing (e.g. no exit spot); explained and residual are
null unless all four parts are known. One formula serves both callers: `attribution(trade)` on
Python numbers and the export on numpy columns, because `greek_parts` uses only arithmetic.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, TypeVar

from optrade.calendar import session_seconds_between
from optrade.domain import DAYS_PER_YEAR, SESSION_SECONDS, TRADING_DAYS_PER_YEAR, Side

# Calendar days of theta one full session stands for.
THETA_DAYS_PER_SESSION = DAYS_PER_YEAR / TRADING_DAYS_PER_YEAR
ATTRIBUTION_PARTS = ("delta", "gamma", "theta", "vega")
ATTRIBUTION_COLUMNS = tuple(
    f"attr_{part}" for part in (*ATTRIBUTION_PARTS, "explained", "residual")
)

# float or numpy array: the formula below is written with arithmetic only, so it serves both.
Num = TypeVar("Num")


def greek_parts(
    *,
    entry_delta: Num,
    entry_gamma: Num,
    entry_theta: Num,
    entry_vega: Num,
    d_spot: Num,
    d_iv: Num,
    days_held: Num,
    units: Num,
    pnl: Num,
) -> dict[str, Num]:
    """Rupee P&L explained by each Greek; `units` = lots × lot_size × side sign. NaN = unknown."""
    parts: dict[str, Any] = {
        "attr_delta": entry_delta * d_spot * units,  # type: ignore[operator]
        "attr_gamma": 0.5 * entry_gamma * d_spot * d_spot * units,  # type: ignore[operator]
        "attr_theta": entry_theta * days_held * units,  # type: ignore[operator]
        "attr_vega": entry_vega * d_iv * units,  # type: ignore[operator]
    }
    explained = parts["attr_delta"] + parts["attr_gamma"] + parts["attr_theta"] + parts["attr_vega"]
    parts["attr_explained"] = explained
    parts["attr_residual"] = pnl - explained  # type: ignore[operator]
    return parts


def _number(value: Any) -> float:
    """A float for the formula; NaN for a missing value (NaN propagates through arithmetic)."""
    if value is None:
        return math.nan
    return float(value)


def _get(trade: Any, name: str) -> Any:
    return trade.get(name) if isinstance(trade, Mapping) else getattr(trade, name, None)


def market_seconds_held(trade: Any) -> float:
    """Trading-session seconds the trade was held: stored, or from its market instants."""
    stored = _get(trade, "market_seconds_held")
    if stored is not None:
        return float(stored)
    start = _get(trade, "entry_market_at") or _get(trade, "opened_at")
    end = _get(trade, "exit_market_at") or _get(trade, "closed_at")
    if start is None or end is None:
        return math.nan
    return session_seconds_between(start, end)


def market_days(seconds: Num) -> Num:
    """Days of theta for `seconds` of session time (float or numpy array)."""
    return seconds / SESSION_SECONDS * THETA_DAYS_PER_SESSION  # type: ignore[operator, return-value]


def attribution(trade: Any) -> dict[str, float | None]:
    """Greek P&L attribution of one closed trade (a `Trade` or a mapping of its columns), rupees."""
    number = {name: _number(_get(trade, name)) for name in (
        "entry_delta", "entry_gamma", "entry_theta", "entry_vega",
        "entry_spot", "exit_spot", "entry_iv", "exit_iv", "pnl", "lots", "lot_size",
    )}  # fmt: skip
    units = number["lots"] * number["lot_size"] * Side(str(_get(trade, "side")).upper()).sign
    parts = greek_parts(
        entry_delta=number["entry_delta"],
        entry_gamma=number["entry_gamma"],
        entry_theta=number["entry_theta"],
        entry_vega=number["entry_vega"],
        d_spot=number["exit_spot"] - number["entry_spot"],
        d_iv=number["exit_iv"] - number["entry_iv"],
        days_held=market_days(market_seconds_held(trade)),
        units=units,
        pnl=number["pnl"],
    )
    return {name: None if math.isnan(value) else value for name, value in parts.items()}
