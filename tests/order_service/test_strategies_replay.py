"""Strategies on the real 02-Dec-2025 NIFTY snapshots: an iron condor by offsets opened on the
morning snapshot (09:34:45 IST) fills every leg at that snapshot's bid or ask, margins below its
two shorts alone, closes as one and exports as one decision; a short straddle with a stop on its
P&L exits every leg on the snapshot the raw files say, at the prices the matching rules give.
Expected values are computed from the raw files (`tests.support.raw_nse`), apart from the service.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, and_

from optrade.calendar import IST
from optrade.db.models import Trade
from quality_service.checks import count_window
from tests.support.orders_processes import AUTH
from tests.support.processes import ServiceProcess
from tests.support.raw_nse import (
    RawLeg,
    RawQuote,
    RawSnapshot,
    expected_strategy_exit,
    read_snapshot,
    snapshot_files,
)

pytestmark = pytest.mark.slow
MORNING = datetime(2025, 12, 2, 9, 34, 45, tzinfo=IST)
AFTER_CLOSE = datetime(2025, 12, 2, 15, 31, tzinfo=IST)
WEEKLY = date(2025, 12, 9)  # trades all day on 02-Dec
EXPIRING = date(2025, 12, 2)
LOT_SIZE = 75
CONDOR = [
    ("SELL", "OTM2", "CE"),
    ("SELL", "OTM2", "PE"),
    ("BUY", "OTM6", "CE"),
    ("BUY", "OTM6", "PE"),
]
SIGNAL = {"ml_score": 0.7, "model_version": "condor-v1", "model_hash": "abc1234",
          "features_snapshot": {"iv_rank": 0.42}}  # fmt: skip


@pytest.fixture
def api(orders_on_replay: ServiceProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=orders_on_replay.url, headers=AUTH, timeout=120) as client:
        yield client


@pytest.fixture(scope="module")
def day(nse_snapshot_dir: Path) -> list[RawSnapshot]:
    found = [read_snapshot(p) for p in snapshot_files(nse_snapshot_dir, EXPIRING)]
    return sorted(found, key=lambda s: s.instant)


def open_strategy(api: httpx.Client, name: str, legs: list[dict[str, Any]], **terms: Any) -> Any:
    body = {"strategy": name, "underlying": "NIFTY", "expiry": WEEKLY.isoformat(), "legs": legs,
            "as_of": MORNING.isoformat(), **SIGNAL, **terms}  # fmt: skip
    return api.post("/v1/strategies", json=body)


def by_offset(side: str, offset: str, option_type: str) -> dict[str, Any]:
    return {"side": side, "offset": offset, "option_type": option_type, "lots": 1}


def fill_price(quote: RawQuote, side: str) -> Decimal:
    """A MARKET BUY takes the ask, a SELL the bid; the LTP where that side is empty."""
    taken = quote.ask if side == "BUY" else quote.bid
    assert taken is not None or quote.ltp is not None
    return taken if taken is not None else quote.ltp  # type: ignore[return-value]


def offset_strike(
    snapshot: RawSnapshot, forward: Decimal, offset: str, option_type: str
) -> Decimal:
    """OpenAlgo's rule on the raw file's listed strikes: ATM nearest the forward (the lower on a
    tie); OTM above ATM for a call, below for a put."""
    listed = sorted(k for (e, k, t) in snapshot.quotes if e == WEEKLY and t == option_type)
    atm = min(listed, key=lambda k: (abs(k - forward), k))
    steps = int(offset.removeprefix("OTM")) * (1 if option_type == "CE" else -1)
    return listed[listed.index(atm) + steps]


def test_an_iron_condor_by_offsets_fills_every_leg_on_the_morning_snapshot_and_margins_as_one(
    api: httpx.Client, replay_market: ServiceProcess, day: list[RawSnapshot]
) -> None:
    chain = httpx.get(
        f"{replay_market.url}/v1/chain/NIFTY",
        params={"expiry": WEEKLY.isoformat(), "as_of": MORNING.isoformat()},
        timeout=60,
    ).json()
    forward = Decimal(str(chain["forward"]))
    morning = day[0]
    assert morning.instant == MORNING

    opened = open_strategy(api, "iron_condor", [by_offset(*leg) for leg in CONDOR])
    assert opened.status_code == 201, opened.text
    condor = opened.json()
    assert (condor["status"], condor["strategy"], len(condor["legs"])) == ("open", "iron_condor", 4)
    premium = Decimal(0)
    for (side, offset, option_type), leg in zip(CONDOR, condor["legs"], strict=True):
        strike = offset_strike(morning, forward, offset, option_type)
        expected = fill_price(morning.quotes[(WEEKLY, strike, option_type)], side)
        assert (Decimal(leg["strike"]), leg["option_type"], leg["side"]) == (
            strike, option_type, side
        )  # fmt: skip
        assert Decimal(leg["entry_price"]) == expected
        assert (leg["lots"], leg["units"], leg["offset"]) == (1, LOT_SIZE, offset)
        assert leg["strategy_id"] == condor["id"] and leg["symbol"].startswith("NIFTY09DEC25")
        premium += expected * LOT_SIZE * (1 if side == "BUY" else -1)
    assert Decimal(condor["net_premium"]) == premium < 0  # a credit

    # The hedge: the condor blocks less than its two shorts do alone.
    naked = [open_strategy(api, f"naked_{t}", [by_offset("SELL", "OTM2", t)]) for t in ("CE", "PE")]
    assert all(n.status_code == 201 for n in naked), [n.text for n in naked]
    naked_margin = sum(Decimal(n.json()["margin"]) for n in naked)
    assert Decimal(0) < Decimal(condor["margin"]) < naked_margin

    # Marked at the mids of the same snapshot: the legs' P&L is what crossing the spread cost.
    shown = api.get(f"/v1/strategies/{condor['id']}", params={"as_of": MORNING.isoformat()}).json()
    half_spreads = sum(
        (q.ask - q.bid) / 2 * LOT_SIZE  # type: ignore[operator]
        for leg in condor["legs"]
        for q in [morning.quotes[(WEEKLY, Decimal(leg["strike"]), leg["option_type"])]]
    )
    assert Decimal(shown["unrealized_pnl"]) == -half_spreads.quantize(Decimal("0.01"))
    assert shown["greeks"]["delta"] is not None and shown["marked_at"] is not None

    closed = api.post(f"/v1/strategies/{condor['id']}/close", json={"as_of": MORNING.isoformat()})
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "closed" and closed.json()["exit_reason"] == "client"
    for leg in closed.json()["legs"]:
        quote = morning.quotes[(WEEKLY, Decimal(leg["strike"]), leg["option_type"])]
        closing = "SELL" if leg["side"] == "BUY" else "BUY"
        assert Decimal(leg["exit_price"]) == fill_price(quote, closing)
        assert leg["exit_reason"] == "client" and leg["status"] == "closed"

    export = api.get("/v1/trades/export", params={"format": "csv", "mode": "replay"})
    rows = [r for r in csv.DictReader(io.StringIO(export.text)) if r["strategy"] == "iron_condor"]
    assert len(rows) == 4 and {r["strategy_id"] for r in rows} == {str(condor["id"])}
    manifest = api.get("/v1/trades/export/manifest").json()["columns"]
    roles = {c["name"]: c["role"] for c in manifest}
    assert roles["strategy_id"] == roles["strategy"] == "group"

    # Scored per decision: the four legs are one outcome, its return on the margin it blocked.
    report = api.get("/v1/models/performance", params={"mode": "replay", "group": "strategy"})
    assert report.status_code == 200, report.text
    (scored,) = [s for s in report.json()["strategies"] if s["strategy"] == "iron_condor"]
    pnl = sum(Decimal(r["pnl"]) for r in rows)
    assert (scored["decisions"], scored["trades"], Decimal(scored["total_pnl"])) == (1, 4, pnl)
    assert (scored["wins"], scored["win_rate"]) == (0, 0.0)  # crossing the spread twice
    assert scored["return_on_margin"] == pytest.approx(float(pnl / Decimal(condor["margin"])))
    page = api.get("/models", params={"mode": "replay", "group": "strategy"}).text
    assert 'data-strategy="iron_condor"' in page


def test_a_strategy_is_read_outside_the_session(api: httpx.Client) -> None:
    """A read is not a trade: after 15:30 IST it is answered (it was refused as market_closed);
    the recorded market serves no chain at 20:00, and the answer says so instead of a mark."""
    opened = open_strategy(api, "read_late", [by_offset("BUY", "OTM2", "CE")])
    assert opened.status_code == 201, opened.text
    evening = MORNING.replace(hour=20, minute=0)
    late = api.get(f"/v1/strategies/{opened.json()['id']}", params={"as_of": evening.isoformat()})
    assert late.status_code == 200, late.text
    assert late.json()["status"] == "open" and late.json()["marked_at"] is None
    assert "no NIFTY snapshot serves" in late.json()["marks_error"]


def test_a_leg_that_cannot_be_resolved_is_named_and_nothing_is_opened(api: httpx.Client) -> None:
    far = open_strategy(api, "strangle", [by_offset("SELL", "OTM2", "CE"),
                                          by_offset("SELL", "OTM60", "PE")])  # fmt: skip
    assert far.status_code == 422, far.text
    assert far.json()["errors"][0]["field"] == "legs.1.offset"
    both = open_strategy(api, "bad", [{"side": "BUY", "strike": 26000, "offset": "ATM",
                                       "option_type": "CE", "lots": 1}])  # fmt: skip
    assert both.status_code == 422 and both.json()["errors"][0]["field"] == "legs.0"


def test_a_short_straddle_exits_every_leg_on_the_first_snapshot_at_or_below_its_stop(
    api: httpx.Client, day: list[RawSnapshot], engine: Engine
) -> None:
    stop = Decimal("-3000")
    strike = Decimal(26200)  # above the 26122.65 spot: the fall to 15:13 costs its put
    legs = [{"side": "SELL", "strike": str(strike), "option_type": t, "lots": 1}
            for t in ("CE", "PE")]  # fmt: skip
    opened = open_strategy(api, "short_straddle", legs, expiry=EXPIRING.isoformat(),
                           stop_loss_pnl=str(stop))  # fmt: skip
    assert opened.status_code == 201, opened.text
    straddle = opened.json()
    raw_legs = [
        RawLeg((EXPIRING, strike, t), "SELL", Decimal(leg["entry_price"]), LOT_SIZE)
        for t, leg in zip(("CE", "PE"), straddle["legs"], strict=True)
    ]
    for raw in raw_legs:
        assert raw.entry_price == fill_price(day[0].quotes[raw.contract], "SELL")
    expect = expected_strategy_exit(day, raw_legs, stop_loss_pnl=stop)
    assert expect is not None and expect.reason == "stop_loss" and expect.index >= 1

    walked = api.post("/v1/engine/advance", json={"until": AFTER_CLOSE.isoformat()})
    assert walked.status_code == 200, walked.text
    mine = [e for e in walked.json()["exits"] if e.get("strategy_id") == straddle["id"]]
    assert len(mine) == 2 and {e["exit_reason"] for e in mine} == {"stop_loss"}

    shown = api.get(f"/v1/strategies/{straddle['id']}").json()
    assert (shown["status"], shown["exit_reason"]) == ("closed", "stop_loss")
    for leg, price in zip(shown["legs"], expect.prices, strict=True):
        assert (leg["exit_reason"], Decimal(leg["exit_price"])) == ("stop_loss", price)
        assert datetime.fromisoformat(leg["exit_market_at"]) == expect.instant
    trades = api.get("/v1/trades", params={"mode": "replay", "limit": 500}).json()["items"]
    legs_traded = [t for t in trades if t["strategy_id"] == straddle["id"]]
    assert len(legs_traded) == 2
    # Each leg's exit snapshot is captured from the very observation that closed it.
    assert all(t["exit_source"] == "primary" and t["exit_iv"] is not None for t in legs_traded)
    realized = sum(Decimal(t["pnl"]) for t in legs_traded)
    assert realized == sum(
        (leg.entry_price - price) * LOT_SIZE
        for leg, price in zip(raw_legs, expect.prices, strict=True)
    )
    # The quality checks count each leg as a trade, complete like any other.
    with engine.connect() as connection:
        window = and_(
            Trade.closed_at >= MORNING, Trade.closed_at < AFTER_CLOSE,  # type: ignore[operator]
            Trade.strategy_id == straddle["id"],
        )  # fmt: skip
        counts = count_window(connection, window)
    assert counts.total == 2
    assert all(
        g.fields["exit_delta"] == g.fields["model_version"] == g.total for g in counts.groups
    )
