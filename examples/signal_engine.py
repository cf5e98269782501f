"""A toy signal engine: a momentum signal on NIFTY's option chain, through the Python client.

As a script it replays `--minutes` minutes of the market session from 09:20 IST, today's up to
the present while the market is open, else the last one (every call carries `as_of`, so a few
minutes of market pass in seconds; it stops at the present and closes what it opened): each
minute it reads NIFTY's chain, scores
a momentum signal, buys the at-the-money call (rising) or put (falling) for 2 lots with a
stop-loss and a target, takes profit on 1 lot after `--hold` minutes and closes the rest after
twice that. Every order carries the model's version, hash, score and features, so the trades
become training records (see fit_model.py).

    .venv/bin/python examples/signal_engine.py --minutes 30     # needs `make run` (or any stack)

`decide(market)` is the same signal for `optrade backtest`: at each observation of a replay it
returns two orders, each with a stop-loss and a target (docs/backtest.md).

    optrade backtest --from 2025-11-17 --to 2025-11-21 --engine examples.signal_engine:decide
"""

from __future__ import annotations

import argparse
import hashlib
import math
from datetime import datetime, time, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from optrade_client import Optrade
from optrade_client.backtest import MarketView

IST = ZoneInfo("Asia/Kolkata")
MODEL_VERSION = "toy-momentum-v1"
TICK = Decimal("0.05")
STOP_LOSS, TARGET = Decimal("0.80"), Decimal("1.25")  # of the entry ask
LAST_ENTRY = time(15, 0)  # IST: no new entries in the last half hour (MIS squares off at 15:15)
MIN_ASK = Decimal(2)  # rupees: a leg cheaper than this has no room for a stop below it


def session_start(present: datetime) -> datetime:
    """09:20 IST of the session `present` falls in (or, after hours, the last one)."""
    return present.astimezone(IST).replace(hour=9, minute=20, second=0, microsecond=0)


def atm_leg(chain: Any, option_type: str) -> dict[str, Any]:
    """The listed leg of `option_type` nearest the spot."""
    rows = [r for r in chain.strikes if r[option_type.lower()]]
    row = min(rows, key=lambda r: abs(r["strike"] - chain.spot))
    leg: dict[str, Any] = row[option_type.lower()]
    return leg


def on_tick(price: Decimal, rounding: str) -> Decimal:
    """`price` on the 0.05 tick, rounded down (ROUND_FLOOR) or up (ROUND_CEILING)."""
    return (price / TICK).quantize(Decimal(1), rounding=rounding) * TICK


def exits_for(leg: dict[str, Any]) -> dict[str, Decimal]:
    """A long's stop-loss 20% below the leg's ask and its target 25% above, on the tick."""
    ask = Decimal(str(leg["ask"]))
    return {"stop_loss": on_tick(ask * STOP_LOSS, ROUND_FLOOR),
            "target": on_tick(ask * TARGET, ROUND_CEILING)}  # fmt: skip


def momentum_score(momentum: float) -> float:
    """The model's score of a momentum in basis points: a logistic of its size."""
    return round(1 / (1 + math.exp(-abs(momentum))), 4)


def model_hash(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:16]


def legs_in_direction(chain: Any, option_type: str) -> list[dict[str, Any]]:
    """The at-the-money leg of `option_type` and the next one out of the money, each with an
    ask of at least MIN_ASK (fewer when the chain has none)."""
    key = option_type.lower()
    rows = [r for r in chain.strikes
            if r.get(key) and Decimal(str(r[key].get("ask") or 0)) >= MIN_ASK]  # fmt: skip
    if not rows:
        return []
    atm = min(rows, key=lambda r: abs(r["strike"] - chain.spot))
    beyond = [r for r in rows if (r["strike"] > atm["strike"]) == (key == "ce")
              and r["strike"] != atm["strike"]]  # fmt: skip
    otm = min(beyond, key=lambda r: abs(r["strike"] - atm["strike"]), default=None)
    return [row[key] for row in (atm, otm) if row is not None]


def decide(market: MarketView) -> list[dict[str, Any]]:
    """Two orders at each observation before 15:00 IST: BUY 1 lot of the at-the-money leg (MIS,
    squared off at 15:15) and 1 lot of the next strike out of the money (NRML, held to expiry)
    in the direction of the spot's move since the session's previous observation, each with a
    stop-loss 20% below its ask and a target 25% above."""
    if market.now.astimezone(IST).time() >= LAST_ENTRY:
        return []
    chain = market.chain()
    momentum = 0.0
    if market.earlier:
        before = market.chain(as_of=market.earlier[-1])
        momentum = (chain.spot - before.spot) / before.spot * 1e4  # basis points
    option_type = "CE" if momentum >= 0 else "PE"
    features = {"momentum_bp": momentum, "pcr": chain.pcr, "vix": chain.vix,
                "observation": len(market.earlier)}  # fmt: skip
    decisions = []
    for leg, product in zip(legs_in_direction(chain, option_type), ("MIS", "NRML"), strict=False):
        decisions.append({
            "symbol": leg["symbol"], "side": "BUY", "lots": 1, "product": product,
            **exits_for(leg), "ml_score": momentum_score(momentum),
            "model_version": MODEL_VERSION, "model_hash": model_hash("momentum-backtest"),
            "features": {**features, "iv": leg.get("iv"), "delta": leg.get("delta")},
        })  # fmt: skip
    return decisions


def run(
    optrade: Optrade, minutes: int, hold: int, model_version: str, now: datetime | None = None
) -> list[int]:
    """Trade up to `minutes` market minutes from 09:20 IST, never past the present (`now`, by
    default the market's own: its latest chain, or after hours the last close), and close
    whatever is still open at the last minute reached, even when a call fails on the way.
    Return the ids of the positions opened."""
    model_digest = model_hash(f"momentum-{hold}")
    present = now or optrade.chain("NIFTY").as_of
    start = session_start(present)
    steps = min(minutes, max(0, int((present - start).total_seconds() // 60)))
    if steps < minutes:
        print(f"the market has {steps} minutes since {start:%H:%M} IST up to now; trading those")
    spots: list[float] = []
    held: list[tuple[int, int]] = []  # (position id, minute opened)
    opened: list[int] = []
    at = start
    try:
        _trade(optrade, start, steps, hold, model_version, model_digest, spots, held, opened)
        at = start + timedelta(minutes=steps)  # the minute after the last one traded
    finally:
        for position_id, _ in held:
            if optrade.position(position_id).status == "open":  # an exit may have closed it
                optrade.close(position_id, reason="end of run", as_of=min(at, present))
    return opened


def _trade(
    optrade: Optrade, start: datetime, minutes: int, hold: int, model_version: str,
    model_digest: str, spots: list[float], held: list[tuple[int, int]], opened: list[int],
) -> None:  # fmt: skip
    """The minute loop: `held` always names the positions still to close."""
    for minute in range(minutes):
        at = start + timedelta(minutes=minute)
        chain = optrade.chain("NIFTY", as_of=at)
        spots.append(chain.spot)
        for position_id, since in list(held):
            if minute - since == hold:
                optrade.close(position_id, lots=1, reason="take profit", as_of=at)
            elif minute - since == 2 * hold:
                optrade.close(position_id, reason="time exit", as_of=at)
                held.remove((position_id, since))
        if len(spots) < 4 or held:
            continue
        momentum = (spots[-1] - spots[-4]) / spots[-4] * 1e4  # basis points over 3 minutes
        option_type = "CE" if momentum >= 0 else "PE"
        leg = atm_leg(chain, option_type)
        features = {"momentum_bp": momentum, "iv": leg.get("iv"), "delta": leg.get("delta"),
                    "pcr": chain.pcr, "vix": chain.vix, "minute": minute}  # fmt: skip
        order = optrade.open(
            symbol=leg["symbol"], side="BUY", lots=2, ml_score=momentum_score(momentum),
            model_version=model_version, model_hash=model_digest, features=features, as_of=at,
            **exits_for(leg),
        )  # fmt: skip
        assert order.position_id is not None  # a MARKET order fills at once
        held.append((order.position_id, minute))
        opened.append(order.position_id)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=30, help="market minutes to trade")
    parser.add_argument("--hold", type=int, default=2, help="minutes before the first exit")
    parser.add_argument("--model-version", default=MODEL_VERSION)
    where = "default: as the optrade CLI finds it (OPTRADE_*, the ports, ./.env)"
    parser.add_argument("--order-url", default=None, help=where)
    parser.add_argument("--market-data-url", default=None, help=where)
    parser.add_argument("--quality-url", default=None, help=where)
    parser.add_argument("--api-key", default=None, help="default: API_KEY or ./.env")
    args = parser.parse_args()
    given = {"order": args.order_url, "market-data": args.market_data_url,
             "quality": args.quality_url}  # fmt: skip
    urls = {service: url for service, url in given.items() if url}
    with Optrade(urls, args.api_key) as optrade:
        opened = run(optrade, args.minutes, args.hold, args.model_version)
        trades = list(optrade.trades(model_version=args.model_version))
    pnl = sum(t.pnl for t in trades)
    print(f"opened {len(opened)} positions, {len(trades)} trades, P&L ₹{pnl:,.2f}")


if __name__ == "__main__":
    main()
