"""`optrade backtest` over three sessions of the real NSE history (17..19-Nov-2025, the 18-Nov
weekly expiry among them) through real processes: market data in `nse-replay`, the order
service and the quality API. The run completes with a quality run per session, no order carries
an instant later than the walk's clock, and a run killed in its second session and invoked again
ends with the same trades as an uninterrupted run, placing no order twice.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from optrade_client import Optrade
from optrade_client.backtest import IST, BacktestState, day_start, sessions_of
from tests.conftest import INDIA_VIX_FILE, NSE_HISTORY_DIR, TEST_API_KEY
from tests.support.processes import REPO_ROOT
from tests.support.replay_stack import replay_stack

pytestmark = pytest.mark.slow
FIRST, LAST = date(2025, 11, 17), date(2025, 11, 19)
ENGINE = "examples.signal_engine:decide"
TIMEOUT_S = 600


@pytest.fixture(scope="module")
def stack(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    logs = tmp_path_factory.mktemp("backtest-stack")
    with replay_stack(database_url, NSE_HISTORY_DIR, INDIA_VIX_FILE, logs) as urls:
        yield urls


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("backtests")


def _command(run_id: str, state_dir: Path) -> list[str]:
    return [sys.executable, "-m", "optrade_client.cli", "backtest", "--from", FIRST.isoformat(),
            "--to", LAST.isoformat(), "--engine", ENGINE, "--run-id", run_id,
            "--state-dir", str(state_dir)]  # fmt: skip


def _env(stack: dict[str, str]) -> dict[str, str]:
    return {**os.environ, "OPTRADE_ORDER_URL": stack["order"],
            "OPTRADE_MARKET_DATA_URL": stack["market-data"],
            "OPTRADE_QUALITY_URL": stack["quality"], "OPTRADE_API_KEY": TEST_API_KEY}  # fmt: skip


def _backtest(stack: dict[str, str], run_id: str, state_dir: Path) -> str:
    done = subprocess.run(_command(run_id, state_dir), env=_env(stack), cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=TIMEOUT_S)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _clock(stack: dict[str, str]) -> dict[date, list[datetime]]:
    with Optrade(stack, TEST_API_KEY) as client:
        instants = client.replay_instants(
            "NIFTY", from_=day_start(FIRST), to=day_start(LAST + timedelta(days=1))
        )
    return sessions_of(instants)


def _trades_of(stack: dict[str, str], state: BacktestState) -> list[tuple[Any, ...]]:
    mine = state.positions()
    with Optrade(stack, TEST_API_KEY) as client:
        trades = [t for t in client.trades() if t.position_id in mine]
    return sorted(
        (t.symbol, t.side, t.lots, t.entry_price, t.exit_price, t.raw["exit_reason"], t.opened_at,
         t.closed_at) for t in trades
    )  # fmt: skip


def _orders_of(stack: dict[str, str], run_id: str) -> list[dict[str, Any]]:
    with Optrade(stack, TEST_API_KEY) as client:
        orders = [o.raw for o in client.orders()]
    return [o for o in orders if (o["client_order_id"] or "").startswith(f"bt-{run_id}-")]


@pytest.fixture(scope="module")
def whole(stack: dict[str, str], state_dir: Path) -> tuple[str, BacktestState]:
    """An uninterrupted run over the three sessions: its printed report and its state."""
    report = _backtest(stack, "whole", state_dir)
    state = BacktestState.load(state_dir / "whole.json")
    assert state is not None
    return report, state


def test_a_backtest_walks_every_session_and_checks_each_in_replay_mode(
    stack: dict[str, str], whole: tuple[str, BacktestState]
) -> None:
    report, state = whole
    clock = _clock(stack)
    assert list(clock) == [date(2025, 11, 17), date(2025, 11, 18), date(2025, 11, 19)]
    assert sorted(state.sessions) == [d.isoformat() for d in clock]
    for day, result in state.sessions.items():
        assert result.instants == len(clock[date.fromisoformat(day)])
        run = result.quality_run
        assert run is not None, day
        stored = httpx.get(f"{stack['quality']}/quality/runs/{run['id']}", timeout=30).json()
        assert datetime.fromisoformat(stored["window_start"]) == day_start(date.fromisoformat(day))
        assert stored["status"] == run["status"] and f"run {run['id']} " in report
    trades = _trades_of(stack, state)
    with Optrade(stack, TEST_API_KEY) as client:
        still_open = [p for p in map(client.position, state.positions()) if p.status == "open"]
    # what is left open is held to a later expiry (NRML), and every other position traded out
    assert all(p.expiry > LAST and p.raw["product"] == "NRML" for p in still_open)
    assert len(trades) + len(still_open) == len(state.positions())
    reasons = {t[5] for t in trades}
    assert {"stop_loss", "target", "square_off"} & reasons and reasons <= {
        "stop_loss", "target", "trailing_stop", "square_off", "settlement"
    }, reasons  # fmt: skip
    assert f"trades {len(trades)}," in report and "return on margin:" in report
    assert f"positions without a trade {len(still_open)}" in report
    assert "certified export:" in report


def test_no_order_of_a_backtest_is_later_than_the_walks_clock(
    stack: dict[str, str], whole: tuple[str, BacktestState]
) -> None:
    _, state = whole
    instants = {i for day in _clock(stack).values() for i in day}
    opened = _orders_of(stack, "whole")
    assert len(opened) == sum(len(s.orders) for s in state.sessions.values()) > 0
    for order in opened:
        placed = datetime.fromisoformat(order["placed_at"])
        session = state.sessions[placed.astimezone(IST).date().isoformat()]
        clock = session.placed_at[str(order["id"])]
        # placed at the walk's clock, and the key names that same instant
        assert placed == datetime.fromisoformat(clock) and placed in instants
        assert order["client_order_id"].split("-")[-2] == f"{placed:%Y%m%dT%H%M%SZ}"
    with Optrade(stack, TEST_API_KEY) as client:
        positions = state.positions()
        closing = [o.raw for o in client.orders() if o.position_id in positions
                   and o.intent == "close"]  # fmt: skip
    # exits fill on observations the walk reached, never on a later one
    filled = [o["placed_at"] or o["filled_at"] for o in closing]
    assert filled and all(datetime.fromisoformat(f) in instants for f in filled), closing[:2]


def test_a_run_killed_in_its_second_session_ends_as_an_uninterrupted_one(
    stack: dict[str, str], state_dir: Path, whole: tuple[str, BacktestState]
) -> None:
    first_session = len(_clock(stack)[FIRST])
    with subprocess.Popen(_command("resumed", state_dir), env=_env(stack), cwd=REPO_ROOT,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          start_new_session=True) as killed:  # fmt: skip
        try:
            assert killed.stderr is not None
            for line in killed.stderr:  # "snapshots 21/49 (43%) [...]", one line a snapshot
                if line.startswith("snapshots ") and int(line.split()[1].split("/")[0]) >= (
                    first_session + 3
                ):
                    break
            else:
                pytest.fail("the backtest ended before it could be killed")
        finally:
            os.killpg(killed.pid, signal.SIGKILL)
            killed.wait(timeout=30)
    interrupted = json.loads((state_dir / "resumed.json").read_text())
    assert list(interrupted["sessions"]) == [FIRST.isoformat()]  # the second was under way
    _backtest(stack, "resumed", state_dir)
    resumed = BacktestState.load(state_dir / "resumed.json")
    assert resumed is not None
    assert _trades_of(stack, resumed) == _trades_of(stack, whole[1])
    orders = _orders_of(stack, "resumed")
    keys = [o["client_order_id"] for o in orders]
    assert len(keys) == len(set(keys)) == len(_orders_of(stack, "whole"))
