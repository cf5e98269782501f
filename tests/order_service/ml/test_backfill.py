"""Backfill of missing snapshots against a scripted quote source (no HTTP)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, delete, select, update

from optrade.clients.market_data import QuoteRequest
from optrade.db.models import Position, Trade
from optrade.domain import IST, utcnow
from order_service.ml.backfill import backfill_snapshots
from tests.support.factories import (
    OPENED_AT,
    insert_trades,
    missing_snapshot,
    snapshot,
    trade_values,
)
from tests.support.quotes import GREEKS, ScriptedQuotes

CLOSED_AT = OPENED_AT + timedelta(hours=2)
EXIT_MARKET_AT = CLOSED_AT - timedelta(seconds=3)


@pytest.fixture(autouse=True)
def _empty(engine: Engine) -> Iterator[None]:
    yield
    with engine.begin() as connection:
        connection.execute(delete(Trade))
        connection.execute(delete(Position))


def exit_missing(market_at: Any = EXIT_MARKET_AT, **overrides: Any) -> dict[str, Any]:
    return trade_values(
        exit=missing_snapshot("exit_", market_at, "all providers: down"), **overrides
    )


def stored(engine: Engine, trade_id: int) -> dict[str, Any]:
    with engine.connect() as connection:
        row = connection.execute(select(Trade).where(Trade.id == trade_id)).mappings().one()  # type: ignore[arg-type]
        return dict(row)


def test_repairs_a_missing_exit_at_the_recorded_market_time(engine: Engine) -> None:
    [trade_id] = insert_trades(engine, [exit_missing()])
    before, quotes = stored(engine, trade_id), ScriptedQuotes()
    started = utcnow()
    report = backfill_snapshots(engine, quotes)

    assert (report.exit.examined, report.exit.repaired, report.entry.examined) == (1, 1, 0)
    [asked] = quotes.requests
    assert asked.as_of == EXIT_MARKET_AT and asked.strike == before["strike"]
    after = stored(engine, trade_id)
    assert after["exit_source"] == "backfill"
    assert {name: after[f"exit_{name}"] for name in GREEKS} == GREEKS
    assert after["exit_spot"] is not None and after["exit_oi"] == 91000.0
    assert after["exit_market_at"] == EXIT_MARKET_AT
    assert started <= after["exit_captured_at"] <= utcnow()  # the time of the repair
    entry = [c for c in after if c.startswith("entry_")]
    assert {c: after[c] for c in entry} == {c: before[c] for c in entry}


def test_without_a_market_time_it_asks_for_the_close_and_the_open(engine: Engine) -> None:
    both_missing = exit_missing(market_at=None) | missing_snapshot("entry_", None, "down")
    [trade_id] = insert_trades(engine, [both_missing])
    quotes = ScriptedQuotes()
    report = backfill_snapshots(engine, quotes)
    assert (report.entry.repaired, report.exit.repaired) == (1, 1)
    assert sorted(r.as_of for r in quotes.requests) == [OPENED_AT, CLOSED_AT]
    after = stored(engine, trade_id)
    assert after["entry_source"] == after["exit_source"] == "backfill"


def test_live_snapshots_are_never_asked_for_or_touched(engine: Engine) -> None:
    [live] = insert_trades(engine, [trade_values()])
    before = stored(engine, live)
    report = backfill_snapshots(engine, quotes := ScriptedQuotes())
    assert quotes.requests == [] and report.exit.examined == 0
    assert stored(engine, live) == before


def test_a_concurrent_live_capture_wins_over_the_repair(engine: Engine) -> None:
    [trade_id] = insert_trades(engine, [exit_missing()])

    def captured_meanwhile(_: QuoteRequest) -> None:  # another writer fills it while we ask
        with engine.begin() as connection:
            connection.execute(
                update(Trade)
                .where(Trade.id == trade_id)
                .values(exit_source="client", exit_delta=0.9)  # type: ignore[arg-type]
            )

    report = backfill_snapshots(engine, ScriptedQuotes(before_answer=captured_meanwhile))
    assert (report.exit.repaired, report.exit.skipped) == (0, 1)
    after = stored(engine, trade_id)
    assert (after["exit_source"], after["exit_delta"]) == ("client", 0.9)


def test_running_it_again_changes_nothing(engine: Engine) -> None:
    ids = insert_trades(engine, [exit_missing(), exit_missing(), trade_values()])
    backfill_snapshots(engine, ScriptedQuotes())
    first = [stored(engine, i) for i in ids]
    report = backfill_snapshots(engine, quotes := ScriptedQuotes())
    assert quotes.requests == [] and report.exit.examined == 0 and report.next_after_id is None
    assert [stored(engine, i) for i in ids] == first


def test_an_unanswerable_trade_stays_missing_with_the_latest_reason(engine: Engine) -> None:
    [trade_id] = insert_trades(engine, [exit_missing()])
    report = backfill_snapshots(engine, ScriptedQuotes(down=True))
    assert (report.exit.examined, report.exit.still_missing) == (1, 1)
    after = stored(engine, trade_id)
    assert after["exit_source"] == "missing" and after["exit_delta"] is None
    assert "backfill at" in after["exit_error"] and "fallback: HTTP 503" in after["exit_error"]
    assert after["exit_captured_at"] is None
    backfill_snapshots(engine, ScriptedQuotes())  # the providers are back
    assert stored(engine, trade_id)["exit_source"] == "backfill"


def test_runs_are_bounded_and_resume_after_the_last_id(engine: Engine) -> None:
    ids = insert_trades(engine, [exit_missing() for _ in range(3)])
    first = backfill_snapshots(engine, ScriptedQuotes(down=True), limit=2)
    assert first.exit.examined == 2 and first.next_after_id == ids[1]
    second = backfill_snapshots(engine, ScriptedQuotes(), limit=2, after_id=ids[1])
    assert second.exit.repaired == 1 and second.next_after_id is None
    assert [stored(engine, i)["exit_source"] for i in ids] == ["missing", "missing", "backfill"]


def live_trade_exit_missing() -> dict[str, Any]:
    """A trade whose entry came from OpenAlgo (the real market) and whose exit is missing."""
    entry = snapshot("entry_", OPENED_AT, provider="openalgo", instance="primary")
    return exit_missing(entry=entry)


def test_a_live_trade_is_never_repaired_from_the_simulated_market(engine: Engine) -> None:
    [trade_id] = insert_trades(engine, [live_trade_exit_missing()])
    report = backfill_snapshots(engine, ScriptedQuotes(provider="simulated"))
    assert (report.exit.examined, report.exit.repaired, report.exit.still_missing) == (1, 0, 1)
    after = stored(engine, trade_id)
    assert after["exit_source"] == "missing" and after["exit_delta"] is None
    at = EXIT_MARKET_AT.astimezone(IST).isoformat()
    assert after["exit_error"].startswith(f"no recorded history for openalgo at {at}")
    assert "simulated cannot see the openalgo market" in after["exit_error"]


@pytest.mark.parametrize("provider", ["openalgo", "recorded", "nse-replay"])
def test_a_live_trade_is_repaired_from_a_recording_of_the_real_market(
    engine: Engine, provider: str
) -> None:
    [trade_id] = insert_trades(engine, [live_trade_exit_missing()])
    report = backfill_snapshots(engine, ScriptedQuotes(provider=provider))
    assert report.exit.repaired == 1
    after = stored(engine, trade_id)
    assert (after["exit_source"], after["exit_provider"]) == ("backfill", provider)
    assert after["exit_instance"] == "primary"


def test_a_simulated_trade_is_not_repaired_from_a_real_market(engine: Engine) -> None:
    entry = snapshot("entry_", OPENED_AT, provider="simulated")
    [trade_id] = insert_trades(engine, [exit_missing(entry=entry)])
    assert backfill_snapshots(engine, ScriptedQuotes(provider="upstox")).exit.repaired == 0
    assert backfill_snapshots(engine, ScriptedQuotes(provider="simulated")).exit.repaired == 1
    assert stored(engine, trade_id)["exit_provider"] == "simulated"
