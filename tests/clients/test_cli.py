"""The `optrade` CLI against the running stack: reports, exit codes, export progress."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine

from optrade_client import Optrade
from optrade_client.cli import api_key_from_env, backfill_line, check_line
from tests.clients.conftest import signal, urls
from tests.conftest import TEST_API_KEY
from tests.reliability.conftest import Service
from tests.support.factories import insert_trades, trade_values

pytestmark = pytest.mark.slow
OPTRADE = str(Path(sys.executable).parent / "optrade")


def optrade_cli(
    services: dict[str, Service], *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    where = urls(services)
    return subprocess.run(
        [OPTRADE, "--order-url", where["order"], "--market-data-url", where["market-data"],
         "--quality-url", where["quality"], "--api-key", TEST_API_KEY, *args],
        capture_output=True, text=True, timeout=180, env={"PATH": "/usr/bin:/bin", **env},
    )  # fmt: skip


def test_order_open_close_and_positions(
    services: dict[str, Service], contract: dict[str, Any]
) -> None:
    opened = optrade_cli(
        services, "order", "open", "--symbol", contract["symbol"], "--side", "BUY",
        "--units", str(2 * contract["lot_size"]), "--ml-score", "0.6", "--model-version",
        "cli-v1", "--model-hash", "abcdef12", "--features", '{"rsi": 50}',
    )  # fmt: skip
    assert opened.returncode == 0, opened.stderr
    placed = json.loads(opened.stdout)
    assert (placed["status"], placed["order_type"]) == ("complete", "MARKET")
    position_id = placed["position_id"]
    closed = optrade_cli(services, "order", "close", str(position_id), "--lots", "1")
    assert closed.returncode == 0, closed.stderr
    listed = optrade_cli(services, "positions", "--model-version", "cli-v1")
    assert f"{position_id}\t{contract['symbol']}\tBUY\t1/2 lots" in listed.stdout


def test_orders_of_every_type_are_placed_listed_modified_cancelled_and_exits_set(
    services: dict[str, Service], contract: dict[str, Any]
) -> None:
    signal_args = ["--ml-score", "0.6", "--model-version", "cli-venue", "--model-hash",
                   "abcdef12", "--features", '{"rsi": 50}']  # fmt: skip
    resting = optrade_cli(
        services, "order", "open", "--symbol", contract["symbol"], "--side", "BUY", "--lots",
        "1", "--order-type", "LIMIT", "--price", "0.05", *signal_args,
    )  # fmt: skip
    assert resting.returncode == 0, resting.stderr
    order = json.loads(resting.stdout)
    assert (order["status"], order["order_type"], order["position"]) == ("open", "LIMIT", None)
    listed = optrade_cli(services, "order", "list", "--status", "open")
    assert f"{order['id']}\t{contract['symbol']}\tBUY\tLIMIT\topen" in listed.stdout
    modified = optrade_cli(services, "order", "modify", str(order["id"]), "--price", "0.10")
    assert modified.returncode == 0 and json.loads(modified.stdout)["price"] == "0.10"
    cancelled = optrade_cli(services, "order", "cancel", str(order["id"]))
    assert json.loads(cancelled.stdout)["status"] == "cancelled"
    again = optrade_cli(services, "order", "cancel", str(order["id"]))
    assert again.returncode != 0 and "cancelled" in again.stderr
    stop = optrade_cli(
        services, "order", "open", "--symbol", contract["symbol"], "--side", "SELL", "--lots",
        "1", "--order-type", "SL-M", "--trigger-price", "0.05", *signal_args,
    )  # fmt: skip
    assert stop.returncode == 0, stop.stderr
    assert json.loads(stop.stdout)["status"] == "trigger_pending"
    market = optrade_cli(
        services, "order", "open", "--symbol", contract["symbol"], "--side", "BUY", "--lots",
        "1", "--product", "NRML", *signal_args,
    )  # fmt: skip
    position_id = json.loads(market.stdout)["position_id"]
    exits = optrade_cli(
        services, "position", "exits", str(position_id), "--stop-loss", "0.05",
        "--trailing-stop", "5",
    )  # fmt: skip
    assert exits.returncode == 0, exits.stderr
    set_ = json.loads(exits.stdout)
    assert (set_["stop_loss"], set_["trailing_stop"]) == ("0.05", "5.00")
    assert set_["trail_best"] is not None


def test_quality_run_prints_the_report_and_exits_1_when_a_check_fails(
    services: dict[str, Service], contract: dict[str, Any], engine: Engine
) -> None:
    with Optrade(urls(services), TEST_API_KEY) as client:
        position = client.open(symbol=contract["symbol"], lots=1, **signal()).position
        client.close(position.id)
    passed = optrade_cli(services, "quality", "run", "--lookback-days", "7")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "=== DATA QUALITY CHECK ===" in passed.stdout and "PASSED" in passed.stdout
    # Trades without model metadata: the ml_metadata check fails.
    now = datetime.now(UTC)
    insert_trades(engine, [
        trade_values(opened_at=now - timedelta(hours=2), held=timedelta(hours=1),
                     ml_score=None, model_version=None, model_hash=None, features_snapshot=None)
        for _ in range(3)
    ])  # fmt: skip
    failed = optrade_cli(services, "quality", "run", "--lookback-days", "7")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "=== DATA QUALITY CHECK ===" in failed.stdout and "❌" in failed.stdout
    status = optrade_cli(services, "quality", "status")
    assert status.returncode == 1 and "status: fail" in status.stdout


def test_export_shows_progress_and_writes_parquet_that_pandas_reads(
    services: dict[str, Service], contract: dict[str, Any], tmp_path: Path
) -> None:
    with Optrade(urls(services), TEST_API_KEY) as client:
        for _ in range(2):
            position = client.open(symbol=contract["symbol"], lots=1, **signal()).position
            client.close(position.id)
    out = tmp_path / "trades.parquet"
    since = (datetime.now(UTC) - timedelta(days=30)).date().isoformat()
    done = optrade_cli(services, "export", "--format", "parquet", "--from", since, "-o", str(out))
    assert done.returncode == 0, done.stderr
    frame = pd.read_parquet(out)
    assert len(frame) >= 2 and "symbol" in frame.columns
    assert f"{len(frame)} rows written" in done.stdout
    assert "rows" in done.stderr and "100%" in done.stderr  # the progress bar ran to the total


def test_exit_codes_for_usage_and_an_unreachable_server(services: dict[str, Service]) -> None:
    usage = optrade_cli(services, "quality", "run", "--lookback-days", "0")
    assert usage.returncode == 2
    refused = optrade_cli(services, "order", "close", "1", "--lots", "0")
    assert refused.returncode == 2 and "lots" in refused.stderr
    dead = subprocess.run(
        [OPTRADE, "--quality-url", "http://127.0.0.1:9", "quality", "status"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert dead.returncode == 3
    assert "server unreachable: http://127.0.0.1:9/quality/status" in dead.stderr


def test_positions_says_so_when_none_match(services: dict[str, Service]) -> None:
    listed = optrade_cli(services, "positions", "--model-version", "nobody-v0")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout == "no positions match these filters\n"


def test_the_api_key_is_read_whole_from_dotenv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("API_KEY", raising=False)
    monkeypatch.delenv("OPTRADE_API_KEY", raising=False)
    env_file = tmp_path / ".env"
    env_file.write_text("DATABASE_URL=sqlite:///x.db\nAPI_KEY=abc+/def==\n")
    assert api_key_from_env(env_file) == "abc+/def=="


def test_strategy_open_show_and_close_an_iron_condor_by_offsets(
    services: dict[str, Service],
) -> None:
    legs = "SELL OTM2 CE 1,SELL OTM2 PE 1,BUY OTM6 CE 1,BUY OTM6 PE 1"
    opened = optrade_cli(
        services, "strategy", "open", "iron_condor", "--underlying", "NIFTY", "--legs", legs,
        "--model-version", "cli-condor-v1", "--model-hash", "abcdef12",
    )  # fmt: skip
    assert opened.returncode == 0, opened.stderr
    condor = __import__("json").loads(opened.stdout)
    assert [(leg["side"], leg["offset"], leg["option_type"]) for leg in condor["legs"]] == [
        tuple(leg.split()[:3]) for leg in legs.split(",")
    ]
    calls = sorted(Decimal(leg["strike"]) for leg in condor["legs"] if leg["option_type"] == "CE")
    puts = sorted(Decimal(leg["strike"]) for leg in condor["legs"] if leg["option_type"] == "PE")
    assert calls[0] < calls[1] and puts[0] < puts[1] and puts[1] < calls[0]  # wings outside
    shown = optrade_cli(services, "strategy", "show", str(condor["id"]))
    assert shown.returncode == 0 and '"status": "open"' in shown.stdout
    closed = optrade_cli(services, "strategy", "close", str(condor["id"]))
    assert closed.returncode == 0, closed.stderr
    assert __import__("json").loads(closed.stdout)["status"] == "closed"
    bad = optrade_cli(services, "strategy", "open", "x", "--underlying", "NIFTY", "--legs",
                      "SELL OTM2 CE")  # fmt: skip
    assert bad.returncode == 2 and "--legs" in bad.stderr


def test_symbols_prints_the_at_the_money_call_and_put_of_the_nearest_expiry(
    services: dict[str, Service],
) -> None:
    both = optrade_cli(services, "symbols", "--underlying", "NIFTY")
    assert both.returncode == 0, both.stderr
    call, put = both.stdout.split()
    with Optrade(urls(services), TEST_API_KEY) as client:
        chain = client.chain("NIFTY")
    strikes = {row["strike"]: row for row in chain.strikes if row["ce"] and row["pe"]}
    (strike,) = [s for s, row in strikes.items() if row["ce"]["symbol"] == call]
    assert strikes[strike]["pe"]["symbol"] == put
    step = sorted(strikes)[1] - sorted(strikes)[0]
    assert abs(strike - chain.spot) <= step  # at the money (the spot may move a little)
    assert f"expiry {chain.expiry}" in both.stderr
    only_call = optrade_cli(services, "symbols", "--underlying", "nifty", "--option-type", "CE")
    assert only_call.returncode == 0 and only_call.stdout.strip().endswith("CE")
    assert optrade_cli(services, "symbols", "--option-type", "XX").returncode == 2


def test_a_check_line_shows_coverage_rounded_down_and_counts_positions_past_expiry() -> None:
    trades = {"name": "entry_greeks", "status": "fail", "kind": "trades", "coverage": 94.96,
              "passed": 9496, "total": 10000}  # fmt: skip
    assert check_line(trades) == "entry_greeks: fail (94.9%, 9496/10000 trades)"
    empty = {"name": "entry_greeks", "status": "no_data", "kind": "trades", "coverage": None}
    assert check_line(empty) == "entry_greeks: no_data (no trades)"
    stranded = {"name": "open_past_expiry", "status": "fail", "kind": "positions",
                "coverage": None, "total": 2, "failing_trade_ids": [4, 9]}  # fmt: skip
    line = check_line(stranded)
    assert line == "open_past_expiry: fail (2 open past expiry: ids 4, 9)" and "None" not in line


def test_the_backfill_progress_line_reads_as_a_sentence() -> None:
    assert backfill_line(500, 3) == "examined trades up to id 500; 3 snapshots repaired"
    assert backfill_line(None, 7) == "examined every trade; 7 snapshots repaired"
