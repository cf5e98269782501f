"""The five checks counted by the database on trades with known gaps (PostgreSQL and SQLite)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, null
from sqlmodel import Session, select

from optrade.db.models import QualityRun
from optrade.domain import IST
from quality_service.checks import CHECK_NAMES, grade
from quality_service.report import render_text
from quality_service.runs import run_manual_check
from quality_service.schemas import CheckResult
from quality_service.status import to_public
from tests.quality_service.conftest import MIDDAY, NOW, TradeFactory

pytestmark = pytest.mark.both_databases  # the embedded default is proven too

EXIT_MISSING = {
    f"exit_{name}": None
    for name in ("delta", "gamma", "theta", "vega", "iv", "oi", "volume", "bid", "ask",
                 "spot", "vix", "pcr")
} | {"exit_source": "missing"}  # fmt: skip


def _checks(run: QualityRun) -> dict[str, CheckResult]:
    return {c["name"]: CheckResult.model_validate(c) for c in run.checks}


def _fields(check: CheckResult) -> dict[str, tuple[int, int]]:
    return {f.name: (f.present, f.total) for f in check.fields}


def _groups(check: CheckResult, key: str) -> list[tuple[str | None, int, int]]:
    return [(g.value, g.passed, g.total) for g in getattr(check.breakdown, key)]


@pytest.fixture
def gaps(add_trades: TradeFactory) -> dict[str, list[int]]:
    """24 trades today: 16 complete and 8 with known gaps."""
    return {
        "complete": add_trades(16),
        "no_entry_delta": add_trades(2, entry_delta=None, entry_source="fallback"),
        "no_exit_iv_vega": add_trades(
            1, exit_iv=None, exit_vega=None, model_version="v2", exit_source="fallback"
        ),
        "no_version": add_trades(1, model_version=None),
        "empty_features": add_trades(1, features_snapshot={}),
        "json_null_features": add_trades(1, features_snapshot=None),  # stored as JSON null
        "sql_null_features": add_trades(1, features_snapshot=null()),
        "exit_missing": add_trades(1, model_version="v2", **EXIT_MISSING),
    }


def test_counts_statuses_fields_breakdowns_and_failing_ids(
    clean_db: Engine, gaps: dict[str, list[int]]
) -> None:
    run = run_manual_check(clean_db, now=NOW, alert=False)

    assert (run.total_trades, run.status, run.trigger) == (24, "fail", "manual")
    checks = _checks(run)
    assert {n: (c.passed, c.total, c.status) for n, c in checks.items()} == {
        "entry_greeks": (22, 24, "fail"),
        "exit_greeks": (22, 24, "fail"),
        "ml_metadata": (20, 24, "fail"),
        "market_context": (23, 24, "warn"),  # 95.8%: above 95, below 95 + 2
        "chain_data": (23, 24, "pass"),  # threshold 80
        "open_past_expiry": (0, 0, "pass"),  # positions, not trades: none stranded
        "feature_drift": (0, 0, "no_data"),  # no reference before today's first trades
    }
    assert checks["entry_greeks"].coverage == pytest.approx(91.6667)
    assert _fields(checks["entry_greeks"]) == {
        "entry_delta": (22, 24), "entry_gamma": (24, 24), "entry_theta": (24, 24),
        "entry_vega": (24, 24), "entry_iv": (24, 24),
    }  # fmt: skip
    assert _fields(checks["exit_greeks"]) == {
        "exit_delta": (23, 24), "exit_gamma": (23, 24), "exit_theta": (23, 24),
        "exit_vega": (22, 24), "exit_iv": (22, 24),
    }  # fmt: skip
    assert _fields(checks["ml_metadata"]) == {
        "ml_score": (24, 24), "model_version": (23, 24), "model_hash": (24, 24),
        "features_snapshot": (21, 24),  # {}, JSON null and SQL NULL are all missing
    }  # fmt: skip
    assert _fields(checks["market_context"])["exit_pcr"] == (23, 24)
    assert _fields(checks["chain_data"])["exit_volume"] == (23, 24)

    assert checks["entry_greeks"].failing_trade_ids == gaps["no_entry_delta"]
    assert checks["exit_greeks"].failing_trade_ids == sorted(
        gaps["no_exit_iv_vega"] + gaps["exit_missing"]
    )
    assert checks["ml_metadata"].failing_trade_ids == sorted(
        gaps["no_version"] + gaps["empty_features"] + gaps["json_null_features"]
        + gaps["sql_null_features"]
    )  # fmt: skip
    assert checks["market_context"].failing_trade_ids == gaps["exit_missing"]

    # Breakdowns: values sorted, the NULL model version reported as null, last.
    assert _groups(checks["entry_greeks"], "model_version") == [
        ("v1", 19, 21), ("v2", 2, 2), (None, 1, 1)
    ]  # fmt: skip
    assert _groups(checks["ml_metadata"], "model_version") == [
        ("v1", 18, 21), ("v2", 2, 2), (None, 0, 1)
    ]  # fmt: skip
    assert _groups(checks["entry_greeks"], "entry_source") == [
        ("fallback", 0, 2), ("primary", 22, 22)
    ]  # fmt: skip
    assert _groups(checks["exit_greeks"], "exit_source") == [
        ("fallback", 0, 1), ("missing", 0, 1), ("primary", 22, 22)
    ]  # fmt: skip


def test_thresholds_in_force_and_warn_margin_come_from_settings(
    clean_db: Engine, gaps: dict[str, list[int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUALITY_THRESHOLD_ENTRY_GREEKS", "90")
    monkeypatch.setenv("QUALITY_THRESHOLD_CHAIN_DATA", "96")
    monkeypatch.setenv("QUALITY_WARN_MARGIN", "0.5")
    from optrade.settings import reset_all_settings

    reset_all_settings()
    run = run_manual_check(clean_db, now=NOW, alert=False)

    checks = _checks(run)
    assert checks["entry_greeks"].status == "pass"  # 91.7 >= 90 + 0.5
    assert checks["chain_data"].status == "fail"  # 95.8 < 96
    assert checks["market_context"].status == "pass"  # 95.8 >= 95 + 0.5
    assert run.thresholds == {
        "entry_greeks": 90.0, "exit_greeks": 95.0, "ml_metadata": 95.0,
        "market_context": 95.0, "chain_data": 96.0, "open_past_expiry": 0.0, "warn_margin": 0.5,
        "feature_drift": 0.25, "feature_drift_warn_psi": 0.1,
    }  # fmt: skip
    assert checks["entry_greeks"].warn_below == 90.5


@pytest.mark.parametrize(
    ("passed", "total", "threshold", "status"),
    [
        (19, 20, 95.0, "warn"),  # exactly the threshold passes it, but within the margin
        (18, 20, 95.0, "fail"),
        (20, 20, 95.0, "pass"),
        (199, 200, 99.0, "warn"),  # warn_below is capped at 100: only 100% passes
        (200, 200, 99.0, "pass"),
        (0, 0, 95.0, "no_data"),
    ],
)
def test_grade_fails_below_threshold_and_warns_within_the_margin(
    passed: int, total: int, threshold: float, status: str
) -> None:
    assert grade(passed, total, threshold, 2.0) == status


def test_empty_window_is_no_data_not_pass(clean_db: Engine, add_trades: TradeFactory) -> None:
    add_trades(3, closed_at=MIDDAY - timedelta(days=1))  # yesterday only

    run = run_manual_check(clean_db, now=NOW, alert=False)

    assert (run.status, run.total_trades) == ("no_data", 0)
    checks = _checks(run)
    assert checks.pop("open_past_expiry").status == "pass"  # positions: none stranded
    assert checks.pop("feature_drift").status == "no_data"
    for check in checks.values():
        assert (check.status, check.coverage, check.failing_trade_ids) == ("no_data", None, [])
        assert all(f.present == 0 and f.total == 0 for f in check.fields)
    assert render_text(to_public(run)).splitlines()[-1].startswith("No trades closed")


def test_window_is_whole_ist_days_half_open(clean_db: Engine, add_trades: TradeFactory) -> None:
    day = datetime(2025, 12, 2, tzinfo=IST)
    tick = timedelta(microseconds=1)
    before = add_trades(1, closed_at=day - tick)  # 2025-12-01 23:59:59.999999 IST
    first = add_trades(1, closed_at=day)  # 00:00 IST = 18:30 UTC the day before
    last = add_trades(1, closed_at=day + timedelta(days=1) - tick, entry_delta=None)
    add_trades(1, closed_at=day + timedelta(days=1))  # tomorrow 00:00 IST

    today = run_manual_check(clean_db, now=NOW, alert=False)
    two_days = run_manual_check(clean_db, now=NOW, lookback_days=2, alert=False)

    assert today.total_trades == 2
    assert _checks(today)["entry_greeks"].failing_trade_ids == last
    assert today.window_start == day.astimezone(today.window_start.tzinfo)
    assert today.window_end == day + timedelta(days=1)
    assert two_days.total_trades == 3
    assert two_days.window_start == day - timedelta(days=1)
    assert (two_days.details["window_label"], two_days.details["lookback_days"]) == (
        "the last 2 days", 2,
    )  # fmt: skip
    assert first and before


def test_failing_ids_are_capped_and_lowest_first(
    clean_db: Engine, add_trades: TradeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = add_trades(25, entry_iv=None)
    add_trades(5)
    monkeypatch.setenv("QUALITY_FAILING_IDS_LIMIT", "20")

    run = run_manual_check(clean_db, now=NOW, alert=False)

    check = _checks(run)["entry_greeks"]
    assert (check.passed, check.total) == (5, 30)
    assert check.failing_trade_ids == sorted(missing)[:20]


def is_drift(statement: str) -> bool:
    """feature_drift's own statements (its features and reference window), counted apart."""
    return any(
        mark in statement for mark in ("AS feature", "min(trade.closed_at)", "reference_trades")
    )


def _trade_statements(engine: Engine) -> tuple[list[str], Any]:
    """The completeness checks' statements on the trade table (feature_drift's left out)."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if " trade" in statement and "quality_run" not in statement and not is_drift(statement):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    return seen, record


def test_one_aggregate_query_and_one_bounded_sample_query(
    clean_db: Engine, gaps: dict[str, list[int]]
) -> None:
    seen, listener = _trade_statements(clean_db)
    try:
        run = run_manual_check(clean_db, now=NOW, alert=False)
    finally:
        event.remove(clean_db, "before_cursor_execute", listener)

    aggregate, samples = seen  # the counts; the ids have no gap, so no query for their ranges
    assert "GROUP BY" in aggregate and "lag(" not in aggregate.lower()
    assert (
        "UNION ALL" in samples and samples.count("LIMIT") == 5
    )  # every check has an incomplete trade
    ids = [i for found in gaps.values() for i in found]
    assert run.details["counted_ids"] == [[min(ids), max(ids)]]


def test_counted_ids_with_gaps_are_ranges_found_by_one_more_query(
    clean_db: Engine, add_trades: TradeFactory
) -> None:
    first = add_trades(3)
    add_trades(1, mode="replay")  # not a live trade: a gap in the live ids
    second = add_trades(2, entry_delta=None)
    add_trades(1, closed_at=MIDDAY - timedelta(days=1))  # yesterday's: outside the window
    third = add_trades(1)
    seen, listener = _trade_statements(clean_db)
    try:
        run = run_manual_check(clean_db, now=NOW, alert=False)
    finally:
        event.remove(clean_db, "before_cursor_execute", listener)

    assert run.total_trades == 6
    assert run.details["counted_ids"] == [
        [first[0], first[-1]], [second[0], second[-1]], [third[0], third[0]]
    ]  # fmt: skip
    assert len(seen) == 3 and "lag(" in seen[1].lower()  # counts, ranges, samples
    assert _checks(run)["entry_greeks"].failing_trade_ids == second


def test_a_clean_day_needs_only_the_aggregate_query(
    clean_db: Engine, add_trades: TradeFactory
) -> None:
    ids = add_trades(24)
    seen, listener = _trade_statements(clean_db)
    try:
        run = run_manual_check(clean_db, now=NOW, alert=False)
    finally:
        event.remove(clean_db, "before_cursor_execute", listener)

    assert len(seen) == 1  # the aggregate query: no failures to sample, no gap in the ids
    assert run.status == "pass"
    assert run.details["counted_ids"] == [[min(ids), max(ids)]]
    assert render_text(to_public(run)).splitlines()[:4] == [
        "=== DATA QUALITY CHECK ===",
        "Checking 24 trades from today",
        "1. Entry Greeks Coverage: 100.0%",
        "   Delta: 24/24  ✅",
    ]
    assert render_text(to_public(run)).splitlines()[-1] == "All data quality checks PASSED! ✅"


def test_text_report_names_failures_fields_and_breakdowns(
    clean_db: Engine, gaps: dict[str, list[int]]
) -> None:
    text = render_text(to_public(run_manual_check(clean_db, now=NOW, alert=False)))
    lines = text.splitlines()

    assert "1. Entry Greeks Coverage: 91.6%  ❌ FAIL (threshold 95%)" in lines
    assert "   Delta: 22/24  ❌" in lines
    assert "   Gamma: 24/24  ✅" in lines
    assert "4. Market Context Coverage: 95.8%  ⚠️ WARN (below 97%)" in lines
    assert "   By model version: v1 18/21, v2 2/2, (none) 0/1" in lines
    assert "5. Chain Data Coverage: 95.8%" in lines
    assert lines[-1] == (
        "Data quality checks FAILED (3 of 7): Entry Greeks, Exit Greeks, ML Metadata ❌"
    )


def test_every_run_is_stored_and_history_is_never_overwritten(
    clean_db: Engine, add_trades: TradeFactory
) -> None:
    add_trades(4)
    first = run_manual_check(clean_db, now=NOW, alert=False)
    add_trades(4, entry_delta=None)
    second = run_manual_check(clean_db, now=NOW, alert=False)

    with Session(clean_db) as session:
        stored = session.exec(select(QualityRun).order_by(QualityRun.id)).all()  # type: ignore[arg-type]
    assert [(r.id, r.status, r.total_trades) for r in stored] == [
        (first.id, "pass", 4),
        (second.id, "fail", 8),
    ]
    assert [c["name"] for c in stored[0].checks] == [
        *CHECK_NAMES, "open_past_expiry", "feature_drift"
    ]  # fmt: skip
    assert stored[0].finished_at is not None and stored[0].finished_at >= stored[0].started_at
