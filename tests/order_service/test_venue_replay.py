"""The venue on the real 02-Dec-2025 NIFTY snapshots: orders placed in the morning (09:34:45 IST)
rest, trigger, exit and square off by the matching rules when the replay is walked
(`POST /v1/engine/advance`), each at the snapshot and price the rules give on the raw files
(computed here by `tests.support.raw_nse`, apart from the engine), and each exit is a full record.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from optrade.calendar import IST
from tests.support.orders_processes import AUTH
from tests.support.processes import ServiceProcess
from tests.support.raw_nse import expected_exit, quotes_of, read_snapshot, snapshot_files

pytestmark = pytest.mark.slow
MORNING = datetime(2025, 12, 2, 9, 34, 45, tzinfo=IST)
SQUARE_OFF = datetime(2025, 12, 2, 15, 15, tzinfo=IST)
WEEKLY = date(2025, 12, 9)  # the next weekly: it trades all day on 02-Dec
EXPIRING = date(2025, 12, 2)


@pytest.fixture
def api(orders_on_replay: ServiceProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=orders_on_replay.url, headers=AUTH, timeout=120) as client:
        yield client


@pytest.fixture(scope="module")
def day(nse_snapshot_dir: Path) -> list[Any]:
    return [read_snapshot(p) for p in snapshot_files(nse_snapshot_dir, EXPIRING)]


def place(api: httpx.Client, strike: int, option_type: str, **terms: Any) -> dict[str, Any]:
    body = {
        "underlying": "NIFTY", "expiry": terms.pop("expiry", WEEKLY).isoformat(),
        "strike": strike, "option_type": option_type, "side": terms.pop("side", "BUY"),
        "lots": 1, "ml_score": 0.6, "model_version": "venue-v1", "model_hash": "abc1234",
        "features_snapshot": {"rsi": 50.0}, "as_of": MORNING.isoformat(), **terms,
    }  # fmt: skip
    placed = api.post("/v1/orders", json=body)
    assert placed.status_code == 201, placed.text
    return dict(placed.json())


def advance(api: httpx.Client, until: datetime) -> dict[str, Any]:
    walked = api.post("/v1/engine/advance", json={"until": until.isoformat()})
    assert walked.status_code == 200, walked.text
    return dict(walked.json())


def trade_of(api: httpx.Client, position_id: int) -> dict[str, Any]:
    (trade,) = api.get(f"/v1/positions/{position_id}/trades").json()["items"]
    return dict(trade)


def test_morning_orders_exit_square_off_fill_expire_and_settle_by_the_rules(
    api: httpx.Client, day: list[Any]
) -> None:
    stop, target = Decimal("150"), Decimal("400")
    stopped = place(api, 26100, "CE", product="MIS", stop_loss=str(stop), target=str(target))
    untouched = place(api, 26000, "PE", product="MIS")
    quotes = {k: quotes_of(day, (WEEKLY, Decimal(k[0]), k[1])) for k in
              [(26100, "CE"), (26000, "PE"), (26200, "CE")]}  # fmt: skip
    # A resting LIMIT BUY: the first later ask at or under its price fills it at that price.
    reached = min(q.ask for q in quotes[(26200, "CE")][1:] if q.ask is not None)
    resting = place(api, 26200, "CE", order_type="LIMIT", price=str(reached))
    never = place(api, 26200, "CE", order_type="LIMIT", price="0.05")
    held = place(api, 26100, "PE", expiry=EXPIRING)  # NRML on the expiring weekly
    assert stopped["status"] == untouched["status"] == "complete"
    assert (resting["status"], resting["position"]) == ("open", None)
    assert held["product"] == "NRML"

    walked = advance(api, datetime(2025, 12, 2, 15, 31, tzinfo=IST))
    assert walked["observations"] >= 2 and walked["unavailable"] == []

    expect = expected_exit(quotes[(26100, "CE")], side="BUY", stop_loss=stop, target=target,
                           square_off_at=SQUARE_OFF)  # fmt: skip
    assert expect is not None
    trade = trade_of(api, stopped["position_id"])
    assert (trade["exit_reason"], Decimal(trade["exit_price"])) == (expect.reason, expect.price)
    assert datetime.fromisoformat(trade["exit_market_at"]) == expect.instant
    # A full record: the exit snapshot from the very observation that filled it.
    assert trade["exit_source"] == "primary" and trade["exit_delta"] is not None
    assert trade["exit_iv"] is not None and trade["charges"] is not None
    assert Decimal(trade["net_pnl"]) == Decimal(trade["pnl"]) - Decimal(trade["charges"])

    squared = expected_exit(quotes[(26000, "PE")], side="BUY", square_off_at=SQUARE_OFF)
    assert squared is not None and squared.reason == "square_off"
    trade = trade_of(api, untouched["position_id"])
    assert (trade["exit_reason"], Decimal(trade["exit_price"])) == ("square_off", squared.price)
    assert datetime.fromisoformat(trade["exit_market_at"]) == squared.instant

    filled = api.get(f"/v1/orders/{resting['id']}").json()
    assert (filled["status"], Decimal(filled["average_price"])) == ("complete", reached)
    assert filled["position"]["entry_price_source"] == "limit"
    assert api.get(f"/v1/orders/{never['id']}").json()["status"] == "expired"
    assert resting["id"] in walked["filled"] and never["id"] in walked["expired"]

    settled = trade_of(api, held["position_id"])
    assert settled["exit_reason"] == "settlement"
    # Walking again finds nothing left to do: each order filled and each position closed once.
    again = advance(api, datetime(2025, 12, 2, 15, 31, tzinfo=IST))
    assert again["filled"] == again["expired"] == again["exits"] == []


def test_a_stop_already_crossed_on_arrival_is_rejected_naming_trigger_price(
    api: httpx.Client,
) -> None:
    body = {
        "underlying": "NIFTY", "expiry": WEEKLY.isoformat(), "strike": 26100,
        "option_type": "CE", "side": "SELL", "lots": 1, "order_type": "SL-M",
        "trigger_price": "9999.00", "ml_score": 0.5, "model_version": "venue-v1",
        "model_hash": "abc1234", "features_snapshot": {"rsi": 1.0},
        "as_of": MORNING.isoformat(),
    }  # fmt: skip
    refused = api.post("/v1/orders", json=body)
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["field"] == "trigger_price"
    rejected = api.get("/v1/orders", params={"status": "rejected"}).json()["items"]
    assert rejected and rejected[0]["rejection_reason"]


def test_a_pending_order_is_cancelled_or_modified_once(api: httpx.Client) -> None:
    resting = place(api, 26200, "CE", order_type="LIMIT", price="0.10")
    changed = api.patch(f"/v1/orders/{resting['id']}", json={"price": "0.20"})
    assert changed.status_code == 200 and changed.json()["price"] == "0.20"
    off_tick = api.patch(f"/v1/orders/{resting['id']}", json={"price": "0.21"})
    assert off_tick.status_code == 422 and off_tick.json()["errors"][0]["field"] == "price"
    no_trigger = api.patch(f"/v1/orders/{resting['id']}", json={"trigger_price": "1.00"})
    assert no_trigger.status_code == 422
    cancelled = api.post(f"/v1/orders/{resting['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = api.post(f"/v1/orders/{resting['id']}/cancel")
    assert again.status_code == 409 and "cancelled" in again.json()["detail"]


def test_exits_set_later_on_a_position(api: httpx.Client, day: list[Any]) -> None:
    opened = place(api, 26100, "CE", product="NRML")
    url = f"/v1/positions/{opened['position_id']}/exits"
    crossed = api.put(url, json={"stop_loss": "9000.00"})
    assert crossed.status_code == 422 and crossed.json()["errors"][0]["field"] == "stop_loss"
    set_ = api.put(url, json={"stop_loss": "150.00", "target": "400.00"})
    assert set_.status_code == 200, set_.text
    assert (set_.json()["stop_loss"], set_.json()["target"]) == ("150.00", "400.00")
    advance(api, datetime(2025, 12, 2, 15, 31, tzinfo=IST))
    expect = expected_exit(quotes_of(day, (WEEKLY, Decimal(26100), "CE")), side="BUY",
                           stop_loss=Decimal(150), target=Decimal(400))  # fmt: skip
    assert expect is not None
    trade = trade_of(api, opened["position_id"])
    assert (trade["exit_reason"], Decimal(trade["exit_price"])) == (expect.reason, expect.price)


def test_the_replay_walk_marks_open_positions_at_each_snapshot_mid(
    api: httpx.Client, day: list[Any]
) -> None:
    opened = place(api, 26300, "CE", product="NRML", account="marks")
    afternoon = max(s.instant for s in day if s.instant.hour == 15 and s.instant.minute < 30)
    advance(api, afternoon)
    raw = next(s for s in day if s.instant == afternoon).quotes[(WEEKLY, Decimal(26300), "CE")]
    assert raw.bid is not None and raw.ask is not None
    mid = (raw.bid + raw.ask) / 2
    position = api.get(f"/v1/positions/{opened['position_id']}").json()
    assert Decimal(position["mark_price"]) == mid.quantize(Decimal("0.01"))
    assert datetime.fromisoformat(position["marked_at"]) == afternoon
    page = api.get("/v1/accounts/marks").json()
    entry = Decimal(position["entry_price"])
    assert Decimal(page["unrealized"]) == (Decimal(position["mark_price"]) - entry) * 75
