"""A toy signal engine: trades the simulated market through the Python client.

It replays `--minutes` minutes of the market session from 09:20 IST, today's up to the present
while the market is open, else the last one (every call carries `as_of`, so a few minutes of
market pass in seconds; it stops at the present and closes what it opened): each minute it
reads NIFTY's chain, scores a momentum signal, buys the at-the-money call (rising) or put
(falling) for 2 lots when the score is strong enough, takes profit on 1 lot after `--hold`
minutes and closes the rest after twice that.
Every order carries the model's version, hash, score and features, so the trades become training
records (see fit_model.py).

    .venv/bin/python examples/signal_engine.py --minutes 30     # needs `make run` (or any stack)
"""

from __future__ import annotations

import argparse
import hashlib
import math
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from optrade_client import Optrade

IST = ZoneInfo("Asia/Kolkata")


def session_start(present: datetime) -> datetime:
    """09:20 IST of the session `present` falls in (or, after hours, the last one)."""
    return present.astimezone(IST).replace(hour=9, minute=20, second=0, microsecond=0)


def atm_leg(chain: Any, option_type: str) -> dict[str, Any]:
    """The listed leg of `option_type` nearest the spot."""
    rows = [r for r in chain.strikes if r[option_type.lower()]]
    row = min(rows, key=lambda r: abs(r["strike"] - chain.spot))
    leg: dict[str, Any] = row[option_type.lower()]
    return leg


def run(
    optrade: Optrade, minutes: int, hold: int, model_version: str, now: datetime | None = None
) -> list[int]:
    """Trade up to `minutes` market minutes from 09:20 IST, never past the present (`now`, by
    default the market's own: its latest chain, or after hours the last close), and close
    whatever is still open at the last minute reached, even when a call fails on the way.
    Return the ids of the positions opened."""
    model_hash = hashlib.sha256(f"momentum-{hold}".encode()).hexdigest()[:16]
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
        for minute in range(steps):
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
            score = 1 / (1 + math.exp(-abs(momentum)))
            option_type = "CE" if momentum >= 0 else "PE"
            leg = atm_leg(chain, option_type)
            features = {"momentum_bp": momentum, "iv": leg.get("iv"), "delta": leg.get("delta"),
                        "pcr": chain.pcr, "vix": chain.vix, "minute": minute}  # fmt: skip
            order = optrade.open(
                symbol=leg["symbol"], side="BUY", lots=2, ml_score=round(score, 4),
                model_version=model_version, model_hash=model_hash, features=features, as_of=at,
            )  # fmt: skip
            assert order.position_id is not None  # a MARKET order fills at once
            held.append((order.position_id, minute))
            opened.append(order.position_id)
        at = start + timedelta(minutes=steps)  # the minute after the last one traded
    finally:
        for position_id, _ in held:
            optrade.close(position_id, reason="end of run", as_of=min(at, present))
    return opened


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=30, help="market minutes to trade")
    parser.add_argument("--hold", type=int, default=2, help="minutes before the first exit")
    parser.add_argument("--model-version", default="toy-momentum-v1")
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
