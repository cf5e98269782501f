"""The venue on a day of the six weeks of real history (`../shared/data/nse/history/`): a BUY MIS
of the ATM call with a stop-loss and a target placed at the session's first snapshot exits at the
snapshot and price the matching rules give on the raw files (or squares off), through
`POST /v1/engine/advance` over every recorded snapshot of the day.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal

import httpx
import pytest

from optrade.calendar import IST
from tests.conftest import INDIA_VIX_FILE, NSE_HISTORY_DIR
from tests.support.orders_processes import AUTH, market_data, order_service
from tests.support.processes import ServiceProcess
from tests.support.raw_nse import expected_exit, quotes_of, read_snapshot, snapshot_files

pytestmark = pytest.mark.slow
DAYS = [date(2025, 11, 13), date(2025, 10, 24)]


def at_ist(day: date, hour: int, minute: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=IST)


@pytest.fixture(scope="module")
def history_orders(database_url: str) -> Iterator[ServiceProcess]:
    replay = {"MARKET_DATA_PROVIDER": "nse-replay", "NSE_REPLAY_DIR": str(NSE_HISTORY_DIR),
              "INDIA_VIX_FILE": str(INDIA_VIX_FILE)}  # fmt: skip
    with market_data("primary", **replay) as primary:
        orders = order_service(database_url, primary.url, "", MARKET_DATA_READ_TIMEOUT="5")
        try:
            yield orders
        finally:
            orders.stop()


@pytest.mark.parametrize("day", DAYS)
def test_an_atm_call_with_a_stop_and_a_target_exits_by_the_rules(
    history_orders: ServiceProcess, day: date
) -> None:
    snapshots = [read_snapshot(p) for p in snapshot_files(NSE_HISTORY_DIR, day)]
    first = min(snapshots, key=lambda s: s.instant)
    expiry = min(e for (e, _, _) in first.quotes if e > day)  # the nearest weekly after today
    spot_strikes = sorted({k for (e, k, t) in first.quotes if e == expiry and t == "CE"})
    quotes = {k: first.quotes[(expiry, k, "CE")] for k in spot_strikes}
    atm = min((k for k in spot_strikes if quotes[k].ask), key=lambda k: abs(quotes[k].ask - 150))
    ask = quotes[atm].ask
    assert ask is not None
    stop = (ask * Decimal("0.85") / Decimal("0.05")).quantize(Decimal(1)) * Decimal("0.05")
    target = (ask * Decimal("1.15") / Decimal("0.05")).quantize(Decimal(1)) * Decimal("0.05")
    body = {
        "underlying": "NIFTY", "expiry": expiry.isoformat(), "strike": str(atm),
        "option_type": "CE", "side": "BUY", "lots": 1, "product": "MIS",
        "stop_loss": str(stop), "target": str(target), "ml_score": 0.55,
        "model_version": f"history-{day}", "model_hash": "abc1234",
        "features_snapshot": {"rsi": 40.0}, "as_of": first.instant.isoformat(),
    }  # fmt: skip
    with httpx.Client(base_url=history_orders.url, headers=AUTH, timeout=300) as api:
        placed = api.post("/v1/orders", json=body)
        assert placed.status_code == 201, placed.text
        assert Decimal(placed.json()["average_price"]) == ask
        until = at_ist(day, 15, 31)
        walked = api.post("/v1/engine/advance", json={"until": until.isoformat()})
        assert walked.status_code == 200, walked.text
        (trade,) = api.get(f"/v1/positions/{placed.json()['position_id']}/trades").json()["items"]
    expect = expected_exit(
        quotes_of(snapshots, (expiry, atm, "CE")), side="BUY", stop_loss=stop, target=target,
        square_off_at=at_ist(day, 15, 15),
    )  # fmt: skip
    assert expect is not None
    assert (trade["exit_reason"], Decimal(trade["exit_price"])) == (expect.reason, expect.price)
    assert datetime.fromisoformat(trade["exit_market_at"]) == expect.instant
    assert trade["exit_source"] == "primary" and trade["exit_delta"] is not None
