"""The sixth check: positions still open after their expiry's 15:30 IST settlement fail it, by
id; settled trades (exit IV undefined, reason `expired`) pass the exit Greeks check."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Engine
from sqlmodel import Session

from optrade.calendar import IST
from optrade.db.models import Position
from quality_service.expiry_check import last_settled_expiry
from quality_service.report import render_text
from quality_service.runs import run_manual_check, run_scheduled_check
from quality_service.status import to_public
from tests.quality_service.conftest import NOW, TRADING_DAY, TradeFactory


def open_position(engine: Engine, expiry: date, *, status: str = "open") -> int:
    with Session(engine) as session:
        position = Position(
            underlying="NIFTY", expiry=expiry, strike=Decimal("26100"), option_type="PE",
            side="BUY", lot_size=75, lots=1, quantity_open=1 if status == "open" else 0,
            entry_price=Decimal("38.50"), entry_price_source="ask", status=status,
            opened_at=datetime(2025, 12, 2, 9, 34, 45, tzinfo=IST),
        )  # fmt: skip
        session.add(position)
        session.commit()
        assert position.id is not None
        return position.id


def by_name(run: object) -> dict[str, dict]:
    return {c["name"]: c for c in run.checks}  # type: ignore[attr-defined]


def test_a_stranded_position_fails_the_check_and_is_named(
    clean_db: Engine, add_trades: TradeFactory
) -> None:
    add_trades(3)
    stranded = open_position(clean_db, TRADING_DAY)
    open_position(clean_db, date(2025, 12, 9))  # not expired yet: fine
    open_position(clean_db, date(2025, 11, 25), status="closed")  # settled: fine
    run = run_scheduled_check(clean_db, TRADING_DAY, now=NOW).run
    check = by_name(run)["open_past_expiry"]
    assert (check["status"], check["total"], check["threshold"]) == ("fail", 1, 0.0)
    assert check["failing_trade_ids"] == [stranded] and check["kind"] == "positions"
    assert run.status == "fail" and len(run.checks) == 7
    text = render_text(to_public(run))
    assert "6. Open Past Expiry: 1 positions open after their expiry's settlement" in text
    assert f"Stranded positions (first 1): {stranded}" in text


def test_without_trades_a_stranded_position_still_fails_the_run(clean_db: Engine) -> None:
    stranded = open_position(clean_db, date(2025, 11, 25))  # from a week before the window
    run = run_manual_check(clean_db, now=NOW, alert=False)
    assert run.total_trades == 0 and run.status == "fail"
    assert by_name(run)["open_past_expiry"]["failing_trade_ids"] == [stranded]
    assert "FAILED" in render_text(to_public(run))


def test_nothing_stranded_passes_and_an_empty_day_stays_no_data(clean_db: Engine) -> None:
    open_position(clean_db, date(2025, 12, 9))
    run = run_manual_check(clean_db, now=NOW, alert=False)
    assert by_name(run)["open_past_expiry"]["status"] == "pass" and run.status == "no_data"


def test_an_expiry_is_past_from_1530_ist_on_its_day() -> None:
    assert last_settled_expiry(datetime(2025, 12, 2, 15, 29, 59, tzinfo=IST)) == date(2025, 12, 1)
    assert last_settled_expiry(datetime(2025, 12, 2, 15, 30, tzinfo=IST)) == TRADING_DAY


def test_a_settlement_trade_without_exit_iv_passes_the_exit_greeks_check(
    clean_db: Engine, add_trades: TradeFactory
) -> None:
    settled = {"exit_iv": None, "exit_source": "settlement", "exit_error": "expired",
               "exit_delta": -1.0, "exit_gamma": 0.0, "exit_theta": 0.0,
               "exit_vega": 0.0}  # fmt: skip
    add_trades(2, **settled)
    bad = add_trades(1, exit_iv=None, exit_error="greeks: no solution")  # a live exit: no excuse
    bad += add_trades(1, **(settled | {"exit_gamma": None}))  # expired, but gamma is missing
    run = run_scheduled_check(clean_db, TRADING_DAY, now=NOW).run
    exit_greeks = by_name(run)["exit_greeks"]
    assert (exit_greeks["total"], exit_greeks["passed"]) == (4, 2)
    assert exit_greeks["failing_trade_ids"] == sorted(bad)
    iv = next(f for f in exit_greeks["fields"] if f["name"] == "exit_iv")
    assert iv["present"] == 3  # the settled trades' IV counts as defined-as-absent
