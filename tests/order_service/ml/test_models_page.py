"""`GET /models`: one curve per model, its numbers, and a render in headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
import warnings
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from optrade.settings import reset_all_settings
from tests.conftest import TEST_API_KEY
from tests.support.factories import OPENED_AT, insert_trades, missing_snapshot, trade_values
from tests.support.processes import ServiceProcess

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def trades(engine: Engine) -> None:
    """v1: +750, −375, +1500 (3 trades, 2 wins); v2: −750 with its exit snapshot missing."""
    at = OPENED_AT
    insert_trades(engine, [
        trade_values(exit_price="110.00", opened_at=at, model_version="v1", model_hash="aaa111"),
        trade_values(exit_price="95.00", opened_at=at + timedelta(hours=1), model_version="v1",
                     model_hash="aaa111"),
        trade_values(exit_price="120.00", opened_at=at + timedelta(hours=2), model_version="v1",
                     model_hash="aaa111"),
        trade_values(exit_price="90.00", opened_at=at + timedelta(hours=1), model_version="v2",
                     model_hash="bbb222",
                     exit=missing_snapshot("exit_", at + timedelta(hours=3), "no provider")),
    ])  # fmt: skip


@pytest.fixture(scope="module")
def page(database_url: str, trades: None) -> Iterator[str]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATABASE_URL", database_url)
        reset_all_settings()
        from order_service.main import create_app

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
            from fastapi.testclient import TestClient
        with TestClient(create_app()) as client:
            response = client.get("/models")
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/html")
            yield response.text


def _row(page: str, model: str) -> list[str]:
    row = re.search(rf'<tr class="model" data-model="{re.escape(model)}">(.*?)</tr>', page)
    assert row, model
    return re.findall(r"<td>(.*?)</td>", row.group(1))


def test_one_curve_per_model_with_a_point_per_trade(page: str) -> None:
    curves = dict(re.findall(r'class="curve" data-model="([^"]+)" data-points="(\d+)"', page))
    assert curves == {"v1 · aaa111": "3", "v2 · bbb222": "1"}
    assert "<script" not in page  # no JavaScript


def test_the_numbers_per_model(page: str) -> None:
    # trades, win rate, total P&L, positions, complete records, exits by source (missing, primary)
    assert _row(page, "v1 · aaa111")[1:] == ["3", "67%", "₹1,875.00", "3 (0 open)", "100%",
                                            "0", "3"]  # fmt: skip
    assert _row(page, "v2 · bbb222")[1:] == ["1", "0%", "₹-750.00", "1 (0 open)", "0%", "1", "0"]


def test_the_curve_ends_at_the_model_total(engine: Engine, trades: None) -> None:
    from optrade.domain import TradeWindow
    from order_service.ml.models_page import model_rows

    rows = {row.label: row for row in model_rows(engine, TradeWindow())}
    assert [v for _, v in rows["v1 · aaa111"].curve] == [750.0, -375.0 + 750.0, 1875.0]


@pytest.mark.slow
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is not installed")
def test_the_page_renders_in_headless_chromium(
    database_url: str, trades: None, tmp_path: Path
) -> None:
    env = {"DATABASE_URL": database_url, "API_KEY": TEST_API_KEY, "APP_ENV": "test"}
    with ServiceProcess("order_service.main:create_app", env=env) as order:
        dom = subprocess.run(
            [
                CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={tmp_path}", "--dump-dom", f"{order.url}/models",
            ],  # fmt: skip
            capture_output=True, text=True, timeout=120, check=True,
        ).stdout  # fmt: skip
    assert re.search(r'<span id="model-count">2</span>', dom)
    assert len(re.findall(r'<polyline class="curve"', dom)) == 2
    assert len(re.findall(r'<tr class="model"', dom)) == 2
