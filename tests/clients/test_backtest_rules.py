"""The backtest's own rules, alone: the market view never asks past its clock, decisions are
checked and keyed by run, instant and index, sessions are IST dates, the state survives a kill,
the engine is imported from the current directory, and the report's sums are the trades'."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from optrade_client import Optrade
from optrade_client.backtest import (
    IST,
    BacktestState,
    LookAhead,
    MarketView,
    Report,
    SessionResult,
    checked_decision,
    decision_key,
    default_run_id,
    load_engine,
    sessions_of,
)
from optrade_client.models import Trade

NOW = datetime(2025, 11, 13, 10, 0, 15, tzinfo=IST)


@pytest.fixture
def asked() -> Iterator[tuple[Optrade, list[httpx.Request]]]:
    """A client whose market-data answers are one small chain; the requests it sent."""
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        chain = {"underlying": "NIFTY", "expiry": "2025-11-18", "lot_size": 75,
                 "spot": 25900.5, "vix": None, "pcr": 1.1,
                 "as_of": request.url.params["as_of"], "strikes": []}  # fmt: skip
        return httpx.Response(200, json=chain)

    with Optrade("http://market.test", "k", transport=httpx.MockTransport(answer)) as client:
        yield client, sent


def test_the_market_view_asks_at_its_clock_by_default(
    asked: tuple[Optrade, list[httpx.Request]],
) -> None:
    client, sent = asked
    market = MarketView(client, underlying="NIFTY", now=NOW)
    assert market.chain().spot == 25900.5
    assert datetime.fromisoformat(sent[0].url.params["as_of"]) == NOW
    assert market.session == date(2025, 11, 13)


def test_the_market_view_refuses_a_later_as_of_without_asking(
    asked: tuple[Optrade, list[httpx.Request]],
) -> None:
    client, sent = asked
    market = MarketView(client, underlying="NIFTY", now=NOW)
    later = NOW + timedelta(seconds=1)
    with pytest.raises(LookAhead, match="later than the walk's clock"):
        market.chain(as_of=later)
    with pytest.raises(LookAhead):
        market.quote(strike=25900, option_type="CE", as_of=later.astimezone(UTC).isoformat())
    with pytest.raises(LookAhead):  # a naive time is IST wall clock: 10:00:16 is after 10:00:15
        market.chain(as_of="2025-11-13T10:00:16")
    with pytest.raises(LookAhead):  # a date is its 00:00 IST: the next day is after the clock
        market.chain(as_of=date(2025, 11, 14))
    assert sent == []


def test_the_market_view_serves_the_past_and_asks_each_instant_once(
    asked: tuple[Optrade, list[httpx.Request]],
) -> None:
    client, sent = asked
    earlier = NOW - timedelta(minutes=25)
    market = MarketView(client, underlying="NIFTY", now=NOW, earlier=[earlier])
    market.chain(as_of=earlier)
    market.chain(as_of=earlier)
    market.chain()
    assert [datetime.fromisoformat(r.url.params["as_of"]) for r in sent] == [earlier, NOW]


def test_a_decision_may_not_act_later_or_earlier_than_the_clock_nor_carry_its_own_key() -> None:
    order = {"symbol": "NIFTY18NOV2525900CE", "side": "BUY", "lots": 1}
    assert checked_decision(order, NOW) == ("open", order)
    assert checked_decision({**order, "as_of": NOW.isoformat()}, NOW) == ("open", order)
    with pytest.raises(LookAhead):
        checked_decision({**order, "as_of": NOW + timedelta(minutes=1)}, NOW)
    with pytest.raises(ValueError, match="not earlier"):
        checked_decision({**order, "as_of": NOW - timedelta(minutes=1)}, NOW)
    with pytest.raises(ValueError, match="client_order_id"):
        checked_decision({**order, "client_order_id": "mine"}, NOW)
    with pytest.raises(ValueError, match="position_id"):
        checked_decision({"action": "close", "lots": 1}, NOW)
    with pytest.raises(ValueError, match="one of open, exits, close"):
        checked_decision({"action": "hedge"}, NOW)


def test_a_decision_is_keyed_by_run_instant_and_index() -> None:
    assert decision_key("six-weeks", NOW, 1) == "bt-six-weeks-20251113T043015Z-1"
    assert decision_key("six-weeks", NOW, 1) != decision_key("six-weeks", NOW, 0)
    run_id = default_run_id("examples.signal_engine:decide", "NIFTY", date(2025, 10, 13),
                            date(2025, 11, 21))  # fmt: skip
    assert run_id == "examples.signal_engine.decide-NIFTY-20251013-20251121"


def test_sessions_are_ist_dates_in_time_order() -> None:
    late = datetime(2025, 11, 13, 10, 0, tzinfo=UTC)  # 15:30 IST of the 13th
    early = datetime(2025, 11, 13, 18, 45, tzinfo=UTC)  # 00:15 IST of the 14th
    first = datetime(2025, 11, 13, 4, 30, tzinfo=UTC)  # 10:00 IST of the 13th
    assert sessions_of([early, late, first]) == {
        date(2025, 11, 13): [first, late], date(2025, 11, 14): [early]
    }  # fmt: skip


def test_the_state_is_written_whole_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    state = BacktestState("run", "examples.signal_engine:decide", "NIFTY", "2025-11-13",
                          "2025-11-14")  # fmt: skip
    state.sessions["2025-11-13"] = SessionResult(
        "2025-11-13", instants=18, orders=[1, 2], positions=[1],
        quality_run={"id": 7, "status": "pass", "total_trades": 1},
    )  # fmt: skip
    state.save(path)
    assert BacktestState.load(path) == state
    assert not list(tmp_path.glob("*.partial")) and json.loads(path.read_text())["run_id"] == "run"
    assert state.positions() == {1}


def test_the_engine_is_imported_from_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "my_engine_h25b.py").write_text("def decide(market):\n    return []\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.path", [p for p in __import__("sys").path if p not in ("", ".")])
    assert load_engine("my_engine_h25b:decide")(None) == []  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="module:function"):
        load_engine("my_engine_h25b")


def _trade(trade_id: int, pnl: str, net: str | None, reason: str, closed: str) -> Trade:
    row: dict[str, Any] = {"id": trade_id, "position_id": trade_id, "pnl": pnl, "net_pnl": net,
                           "exit_reason": reason, "closed_at": closed}  # fmt: skip
    return Trade.parse(row)


def test_the_report_sums_pnl_by_day_and_by_exit_reason() -> None:
    trades = [
        _trade(1, "1500.00", "1420.50", "target", "2025-11-13T05:00:00+00:00"),
        _trade(2, "-750.00", "-801.25", "stop_loss", "2025-11-13T07:00:00+00:00"),
        _trade(3, "-300.00", None, "stop_loss", "2025-11-13T19:00:00+00:00"),  # 00:30 IST, 14th
    ]
    report = Report("run", trades, open_positions=0, refused=1, orders=4,
                    quality_runs={"2025-11-13": None})  # fmt: skip
    assert report.pnl_by(lambda t: t.closed_at.astimezone(IST).date().isoformat()) == {
        "2025-11-13": (2, Decimal("750.00"), Decimal("619.25")),
        "2025-11-14": (1, Decimal("-300.00"), Decimal("-300.00")),
    }
    by_reason = report.pnl_by(lambda t: str(t.raw["exit_reason"]))
    assert by_reason["stop_loss"] == (2, Decimal("-1050.00"), Decimal("-1101.25"))
    text = report.render()
    assert "P&L 450.00, net of charges 319.25" in text
    assert "return on margin: n/a" in text and "2025-11-13  none" in text


def test_return_on_margin_is_the_mean_when_every_trade_has_one() -> None:
    trades = [_trade(1, "10", "10", "target", "2025-11-13T05:00:00+00:00"),
              _trade(2, "10", "10", "target", "2025-11-13T05:00:00+00:00")]  # fmt: skip
    trades[0].raw["return_on_margin"], trades[1].raw["return_on_margin"] = 0.02, 0.04
    report = Report("run", trades, open_positions=0, refused=0, orders=2, quality_runs={})
    assert report.return_on_margin() == "0.0300 (mean per trade)"
