"""From a fresh venv (not the project's): `pip install ./clients/python` and a ten-line script."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.clients.conftest import urls
from tests.conftest import TEST_API_KEY
from tests.reliability.conftest import Service

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import sys, json
from optrade_client import Optrade
signal = dict(side="BUY", ml_score=0.7, model_version="fresh-venv", model_hash="0123abcd")
with Optrade(json.loads(sys.argv[1]), sys.argv[2]) as optrade:
    p = optrade.open(symbol=sys.argv[3], lots=3, features={"rsi": 55.0}, **signal).position
    optrade.close(p.id, lots=1, reason="partial")
    for t in optrade.trades(model_version="fresh-venv"):
        print(t.symbol, t.lots, t.units, t.pnl, optrade.position(p.id).lots_open)
"""


def test_the_package_installs_in_a_clean_venv_and_trades(
    services: dict[str, Service], contract: dict[str, Any], tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    installed = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", str(ROOT / "clients" / "python")],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr[-2000:]
    probe = subprocess.run([python, "-c", "import optrade, sqlmodel"], capture_output=True)
    assert probe.returncode != 0  # nothing of the project leaked into this venv
    assert len(SCRIPT.strip().splitlines()) <= 10
    script = tmp_path / "ten_lines.py"
    script.write_text(textwrap.dedent(SCRIPT))
    import json

    run = subprocess.run(
        [python, script, json.dumps(urls(services)), TEST_API_KEY, contract["symbol"]],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    symbol, lots, units, _pnl, lots_open = run.stdout.split()
    assert (symbol, lots, units, lots_open) == (
        contract["symbol"],
        "1",
        str(contract["lot_size"]),
        "2",
    )
    cli = subprocess.run([venv / "bin" / "optrade", "--help"], capture_output=True, text=True)
    assert cli.returncode == 0 and "quality" in cli.stdout
