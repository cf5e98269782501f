"""Quality runs by trading session, none skipped: a test clock walks through the week of Christmas
2025 with closes after 15:45, on Saturday and on the holiday, a three-day beat outage and a
backdated close into a checked day. Every trade is counted by exactly one scheduled or re-check
run, no trading date is missing from /quality/runs, the export of a run holds exactly the trades
it counted, and each passing run's `training_ready` notice reaches a local endpoint."""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import httpx
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine

from optrade.calendar import IST, is_trading_day
from optrade.settings import reset_all_settings
from quality_service.notify import Notifier, build_notifier
from quality_service.sessions import catch_up, scheduled_tick
from quality_service.settings import get_quality_settings
from tests.conftest import TEST_API_KEY
from tests.quality_service.conftest import TradeFactory
from tests.support.http_sink import HttpSink, http_sink
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.slow


def ist(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 12, day, hour, minute, tzinfo=IST)


TRADING = [date(2025, 12, d) for d in (22, 23, 24, 26, 29, 30, 31)]


@pytest.fixture
def alerts(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[HttpSink, Notifier]]:
    with http_sink() as sink:
        monkeypatch.setenv("ALERT_URLS", f"json://127.0.0.1:{sink.port}/notify")
        monkeypatch.setenv("QUALITY_PUBLIC_URL", "http://quality.test")
        reset_all_settings()
        with httpx.Client() as client:
            yield sink, build_notifier(get_quality_settings(), client)


def _expand(ranges: list[list[int]]) -> list[int]:
    return [i for low, high in ranges for i in range(low, high + 1)]


def test_a_week_with_late_weekend_holiday_closes_an_outage_and_a_backdate(
    clean_db: Engine,
    add_trades: TradeFactory,
    database_url: str,
    alerts: tuple[HttpSink, Notifier],
    tmp_path: Path,
) -> None:
    sink, notifier = alerts
    assert [d for d in TRADING if not is_trading_day(d)] == []
    assert not is_trading_day(date(2025, 12, 25))  # Christmas

    trades = _walk_the_week(clean_db, add_trades, notifier)
    every_trade = [i for name, ids in trades.items() if name != "replayed" for i in ids]

    env = {"DATABASE_URL": database_url, "API_KEY": TEST_API_KEY, "APP_ENV": "test",
           "CELERY_BROKER_URL": f"sqla+sqlite:///{tmp_path / 'broker.db'}"}  # fmt: skip
    with ServiceProcess("quality_service.main:create_app", env=env) as api:
        page = httpx.get(f"{api.url}/quality/runs", params={"limit": 200}, timeout=30).json()
        runs = page["items"][::-1]  # oldest first
        by_date = {(r["trading_date"], r["trigger"]): r for r in runs}
        passing = [r for r in runs if r["trigger"] == "scheduled" and r["total_trades"]]
        exports = {
            r["id"]: httpx.get(f"{api.url}/quality/runs/{r['id']}/trades", timeout=60)
            for r in passing
        }
        csv = httpx.get(
            f"{api.url}/quality/runs/{by_date[('2025-12-23', 'scheduled')]['id']}/trades",
            params={"format": "csv"}, timeout=60,
        )  # fmt: skip

    # No trading date is missing; the holiday is recorded as skipped; the outage was caught up.
    scheduled = {r["trading_date"]: r for r in runs if r["trigger"] == "scheduled"}
    assert sorted(scheduled) == sorted([d.isoformat() for d in TRADING] + ["2025-12-25"])
    assert scheduled["2025-12-25"]["status"] == "skipped"
    caught_up = [r["trading_date"] for r in runs if r["trigger"] == "scheduled"][-4:-1]
    assert caught_up == ["2025-12-26", "2025-12-29", "2025-12-30"]  # oldest first
    assert all(any(a["kind"] == "missed" for a in scheduled[d]["alerts"]) for d in caught_up)

    # Every trade counted by exactly one scheduled or re-check run.
    counting = [r for r in runs if r["trigger"] in ("scheduled", "recheck")]
    counted = Counter(t for r in counting for t in _expand(_details(clean_db, r["id"])))
    assert sorted(counted) == sorted(every_trade)
    assert set(counted.values()) == {1}
    assert not set(trades["replayed"]) & set(counted)  # live runs count live trades
    totals = {(r["trading_date"], r["trigger"]): r["total_trades"] for r in counting}
    assert totals == {
        ("2025-12-22", "scheduled"): 1, ("2025-12-23", "scheduled"): 3,
        ("2025-12-24", "scheduled"): 1, ("2025-12-25", "scheduled"): 0,
        ("2025-12-26", "scheduled"): 2, ("2025-12-29", "scheduled"): 1,
        ("2025-12-30", "scheduled"): 2, ("2025-12-23", "recheck"): 1,
        ("2025-12-31", "scheduled"): 1,
    }  # fmt: skip
    recheck = by_date[("2025-12-23", "recheck")]
    assert _expand(_details(clean_db, recheck["id"])) == trades["backdated"]

    # The export of each run holds exactly the trades that run counted (not the later backdate).
    for run_id, response in exports.items():
        assert response.status_code == 200, response.text
        table = pq.read_table(io.BytesIO(response.content))
        assert table.column("id").to_pylist() == _expand(_details(clean_db, run_id))
    tuesday_csv = pa_csv.read_csv(io.BytesIO(csv.content))
    assert tuesday_csv.column("id").to_pylist() == [*trades["late_monday"], *trades["tuesday"]]

    # Each passing scheduled or re-check run published training_ready with its export URL.
    ready = [p.json() for p in sink.received if p.json()["title"].startswith("training_ready")]
    ready_ids = [int(n["title"].split("#")[1].split()[0]) for n in ready]
    assert ready_ids == [r["id"] for r in counting if r["total_trades"]]
    first = ready[0]["message"]
    assert f"export: http://quality.test/quality/runs/{ready_ids[0]}/trades?format=parquet" in first


def _walk_the_week(
    clean_db: Engine, add_trades: TradeFactory, notifier: Notifier
) -> dict[str, list[int]]:
    """Trades closed through the week and beat's ticks at a test clock; the ids by name."""

    def tick(at: datetime) -> None:  # what beat's 15:45 task does at `at`
        scheduled_tick(clean_db, now=at, notifier=notifier)

    monday = add_trades(1, closed_at=ist(22, 11))
    tick(ist(22, 15, 45))
    late_monday = add_trades(1, closed_at=ist(22, 16, 10))  # after the check: Tuesday's session
    tuesday = add_trades(2, closed_at=ist(23, 10))
    replayed = add_trades(1, closed_at=ist(23, 10, 30), mode="replay")  # not a live trade
    tick(ist(23, 15, 45))
    wednesday = add_trades(1, closed_at=ist(24, 12))
    tick(ist(24, 15, 45))
    christmas = add_trades(1, closed_at=ist(25, 11))  # a holiday close: Friday's session
    tick(ist(25, 15, 45))  # the holiday slot is recorded as skipped
    # Beat is down from Friday to Tuesday: three trading dates (26, 29, 30) get no run.
    friday = add_trades(1, closed_at=ist(26, 12))
    saturday = add_trades(1, closed_at=ist(27, 11))
    late_monday_29 = add_trades(1, closed_at=ist(29, 16, 30))
    tuesday_30 = add_trades(1, closed_at=ist(30, 10))
    backdated = add_trades(1, closed_at=ist(23, 11))  # closed into Tuesday 23's checked window
    # Wednesday morning the worker starts again: its catch-up, then the day's 15:45 run.
    catch_up(clean_db, now=ist(31, 9, 30), notifier=notifier)
    wednesday_31 = add_trades(1, closed_at=ist(31, 10))
    tick(ist(31, 15, 45))
    return {"monday": monday, "late_monday": late_monday, "tuesday": tuesday,
            "wednesday": wednesday, "christmas": christmas, "friday": friday, "saturday": saturday,
            "late_monday_29": late_monday_29, "tuesday_30": tuesday_30, "backdated": backdated,
            "wednesday_31": wednesday_31, "replayed": replayed}  # fmt: skip


def _details(engine: Engine, run_id: int) -> list[list[int]]:
    from sqlmodel import Session

    from optrade.db.models import QualityRun

    with Session(engine) as session:
        run = session.get(QualityRun, run_id)
        assert run is not None
        return list(run.details.get("counted_ids", []))  # a skipped holiday counted none
