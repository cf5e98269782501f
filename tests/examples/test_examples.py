"""The examples run against a real stack: the toy signal engine trades, the model fits."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from datetime import datetime, time
from pathlib import Path
from typing import Any

import pytest

from optrade.calendar import previous_trading_day
from optrade_client import Optrade
from tests.clients.conftest import urls
from tests.conftest import TEST_API_KEY
from tests.reliability import conftest as reliability
from tests.reliability.conftest import Service

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
services = reliability.services


def _example(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "examples" / name), *args],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )  # fmt: skip


def test_the_signal_engine_trades_and_the_export_fits_a_model(
    services: dict[str, Service],
) -> None:
    where = urls(services)
    engine = _example(
        "signal_engine.py", "--minutes", "12", "--hold", "2", "--model-version", "toy-test",
        "--order-url", where["order"], "--market-data-url", where["market-data"],
        "--quality-url", where["quality"], "--api-key", TEST_API_KEY,
    )  # fmt: skip
    assert engine.returncode == 0, engine.stderr
    found = re.search(r"opened (\d+) positions, (\d+) trades", engine.stdout)
    assert found, engine.stdout
    opened, trades = int(found.group(1)), int(found.group(2))
    # A take-profit on one lot and a final exit each; the last may close whole at the run's end.
    assert opened >= 1 and opened < trades <= 2 * opened
    with Optrade(where, TEST_API_KEY) as optrade:
        positions = list(optrade.positions(model_version="toy-test"))
    assert len(positions) == opened and all(p.status == "closed" for p in positions)
    assert all("momentum_bp" in p.raw["features_snapshot"] for p in positions)

    fit = _example("fit_model.py", "--model-version", "toy-test", "--order-url", where["order"])
    assert fit.returncode == 0, fit.stderr
    assert f"{trades} trades" in fit.stdout


def test_the_iron_condor_example_opens_four_legs_as_one_and_closes_them(
    services: dict[str, Service],
) -> None:
    where = urls(services)
    run = _example(
        "iron_condor.py", "--order-url", where["order"], "--market-data-url",
        where["market-data"], "--api-key", TEST_API_KEY, "--model-version", "condor-test",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert len(re.findall(r"^(SELL|BUY) +OTM[26] ", run.stdout, re.MULTILINE)) == 4, run.stdout
    found = re.search(r"strategy (\d+): net premium ₹(-[\d.]+), margin ₹([\d.]+)", run.stdout)
    assert found, run.stdout  # a credit, and a margin blocked
    assert "closed: closed" in run.stdout
    with Optrade(where, TEST_API_KEY) as optrade:
        condor = optrade.get_strategy(int(found.group(1)))
    assert condor.status == "closed" and {leg.exit_reason for leg in condor.legs} == {"client"}


def _signal_engine() -> Any:
    path = ROOT / "examples" / "signal_engine.py"
    spec = importlib.util.spec_from_file_location("signal_engine", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_signal_engine_stops_at_the_present_and_closes_what_it_opened(
    services: dict[str, Service],
) -> None:
    """Run at 10:30 IST of a session with --minutes 200: 70 minutes to trade, not 200."""
    engine = _signal_engine()
    day = previous_trading_day(datetime.now(engine.IST).date())
    now = datetime.combine(day, time(10, 30), engine.IST)
    with Optrade(urls(services), TEST_API_KEY) as optrade:
        opened = engine.run(optrade, 200, 2, "toy-present", now=now)
        positions = list(optrade.positions(model_version="toy-present"))
        trades = list(optrade.trades(model_version="toy-present"))
    assert opened and sorted(p.id for p in positions) == sorted(opened)
    assert all(p.status == "closed" for p in positions)
    assert max(t.closed_at for t in trades) <= now  # nothing traded after the present
    assert min(p.opened_at for p in positions) >= now.replace(hour=9, minute=20)
