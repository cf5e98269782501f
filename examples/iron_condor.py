"""An iron condor as one decision: four legs opened, margined, marked and closed together.

Sells the calls and puts two strikes out of the money and buys the wings six strikes out (the
offsets resolve against the ATM strike of the one chain observation every leg is priced from),
with a stop at -₹3,000 and a target at +₹2,000 of the strategy's P&L for the order engine to
watch. Prints each leg's fill, the net premium and the margin it blocked, the P&L marked at the
mids, then closes every leg at once (unless `--keep`).

    python examples/iron_condor.py            # needs `make run` (or any stack)
"""

from __future__ import annotations

import argparse

from optrade_client import Optrade

LEGS = "SELL OTM2 CE 1,SELL OTM2 PE 1,BUY OTM6 CE 1,BUY OTM6 PE 1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--underlying", default="NIFTY")
    parser.add_argument("--model-version", default="condor-v1")
    parser.add_argument("--keep", action="store_true", help="leave it open for the engine")
    parser.add_argument("--order-url", default="http://127.0.0.1:8000")
    parser.add_argument("--market-data-url", default="http://127.0.0.1:8001")
    parser.add_argument("--api-key", default=None, help="default: API_KEY or ./.env")
    args = parser.parse_args()
    from optrade_client.cli import api_key_from_env

    urls = {"order": args.order_url, "market-data": args.market_data_url}
    with Optrade(urls, args.api_key or api_key_from_env()) as optrade:
        condor = optrade.strategy(
            "iron_condor", underlying=args.underlying, legs=LEGS, ml_score=0.62,
            model_version=args.model_version, model_hash="c0ffee42",
            features={"iv_rank": 0.55, "days_to_expiry": 3}, stop_loss_pnl=-3000,
            target_pnl=2000,
        )  # fmt: skip
        for leg in condor.legs:
            print(
                f"{leg.side:4} {leg.offset:4} {leg.symbol:22} {leg.lots} lot at ₹{leg.entry_price}"
            )
        print(f"strategy {condor.id}: net premium ₹{condor.net_premium}, margin ₹{condor.margin}")
        marked = optrade.get_strategy(condor.id)
        print(f"marked at the mids: P&L ₹{marked.unrealized_pnl}")
        if not args.keep:
            closed = optrade.close_strategy(condor.id, reason="example done")
            print(f"closed: {closed.status}, realized P&L ₹{closed.realized_pnl}")


if __name__ == "__main__":
    main()
