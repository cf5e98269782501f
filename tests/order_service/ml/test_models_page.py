"""`GET /models`: one curve per model, its numbers, calibration, the compare view, and a render
(DOM and screenshot) in headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
import warnings
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert

from optrade.db.models import Position
from optrade.settings import reset_all_settings
from tests.conftest import TEST_API_KEY
from tests.support.factories import OPENED_AT, insert_trades, missing_snapshot, trade_values
from tests.support.processes import ServiceProcess

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def trades(engine: Engine) -> None:
    """v1: +750, −375, +1500 (3 trades, 2 wins); v2: −750 with its exit snapshot missing;
    v3: one open position and no closed trade."""
    at = OPENED_AT
    ids = insert_trades(engine, [
        trade_values(exit_price="110.00", opened_at=at, model_version="v1", model_hash="aaa111"),
        trade_values(exit_price="95.00", opened_at=at + timedelta(hours=1), model_version="v1",
                     model_hash="aaa111"),
        trade_values(exit_price="120.00", opened_at=at + timedelta(hours=2), model_version="v1",
                     model_hash="aaa111"),
        trade_values(exit_price="90.00", opened_at=at + timedelta(hours=1), model_version="v2",
                     model_hash="bbb222",
                     exit=missing_snapshot("exit_", at + timedelta(hours=3), "no provider")),
    ])  # fmt: skip
    with engine.begin() as connection:  # v3's position, still open
        opened = trade_values(model_version="v3", model_hash="ccc333")
        values = {
            k: v
            for k, v in opened.items()
            if k in Position.__table__.c and not k.startswith("exit")
        }
        values |= {
            "id": max(ids) + 1,
            "quantity_open": 75,
            "status": "open",
            "mode": "live",
            "updated_at": at,
        }
        values.pop("closed_at", None)
        connection.execute(insert(Position), [values])


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
    assert re.search(r'<span id="model-count">3 models</span>', page)
    legend = re.findall(
        r'<li data-model="([^"]+)"><span class="swatch" style="background:(#\w+)"', page
    )
    assert [m for m, _ in legend] == ["v1 · aaa111", "v2 · bbb222", "v3 · ccc333"]
    assert len({c for _, c in legend}) == 3  # distinct colours


def test_the_time_axis_is_labelled_in_ist(page: str) -> None:
    # the trades closed between 11:30 and 13:30 IST on 1 Dec 2025 (one day: hours and minutes)
    ticks = re.findall(r'class="time-tick"[^>]*>([^<]+)<', page)
    assert ticks == ["11:30", "12:00", "12:30", "13:00", "13:30"]
    assert "close time (IST)" in page


def test_the_chart_is_net_and_the_table_says_gross_and_net(page: str) -> None:
    assert "Cumulative net P&amp;L by close time (after charges)" in page
    assert "<th>gross P&amp;L</th><th>charges</th><th>net P&amp;L</th>" in page
    assert "4 trades without recorded charges count gross in the curve." in page


def test_the_one_model_count_is_singular() -> None:
    from order_service.ml.models_page import plural, rupees

    assert plural(1, "model") == "1 model" and plural(2, "model") == "2 models"
    assert rupees(-383.5) == "−₹383.50" and rupees(1875) == "₹1,875.00"


def test_the_numbers_per_model(page: str) -> None:
    # trades, positions, win rate, gross, charges, net (unknown: stored without charges), AUC
    # (every score 0.7: ties, 0.5; flagged: fewer than 30 positions), Brier, complete records,
    # exits by source (missing, primary)
    v1 = _row(page, "v1 · aaa111")
    assert v1[1:7] == ["3", "3 (0 open)", "67%", "₹1,875.00", "–", "–"]
    assert v1[7].startswith("0.500 [0.500, 0.500]") and "(few)" in v1[7]
    assert v1[8] == "0.223" and v1[9:] == ["100%", "0", "3"]  # Brier: (2 × 0.09 + 0.49) / 3
    v2 = _row(page, "v2 · bbb222")
    assert v2[1:7] == ["1", "1 (0 open)", "0%", "−₹750.00", "–", "–"] and v2[9:] == ["0%", "1", "0"]
    v3 = _row(page, "v3 · ccc333")  # an open position, nothing closed: listed all the same
    assert v3[1:7] == ["0", "1 (1 open)", "–", "–", "–", "–"]


def test_each_scored_model_has_a_calibration_curve(page: str) -> None:
    figures = re.findall(r'<figure data-model="([^"]+)">', page)
    assert figures == ["v1 · aaa111", "v2 · bbb222"]
    v1 = page.split('<figure data-model="v1 · aaa111">')[1].split("</figure>", maxsplit=1)[0]
    assert len(re.findall(r'<circle class="bin"', v1)) == 1  # every v1 score is 0.7: one bin
    assert len(re.findall(r'<line class="interval"', v1)) == 1
    assert "3 positions, score 0.70, won 67% [21%, 94%]" in v1  # Wilson 95% of 2 of 3


def test_the_compare_view(database_url: str, trades: None) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATABASE_URL", database_url)
        reset_all_settings()
        from order_service.main import create_app

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
            from fastapi.testclient import TestClient
        with TestClient(create_app()) as client:
            params = {"baseline": "v2", "candidate": "v1", "metric": "mean_net_pnl"}
            html = client.get("/models", params=params).text
            refused = client.get("/models", params={**params, "metric": "return_on_margin"})
    section = html.split('<section id="comparison"')[1]
    cells = r"<td>([^<]+)</td><td>(\d+)</td><td>([^<]+)</td>"
    arms = re.findall(rf'<tr class="arm" data-arm="(\w+)"><td>\w+</td>{cells}', section)
    # compared where both traded: v2's one close (12:30 IST) left out for its missing exit, and
    # v1's close of the same instant, −₹375.00 (its 11:30 and 13:30 closes fall outside)
    assert arms == [("baseline", "v2", "0", "–"), ("candidate", "v1", "1", "−₹375.00")]
    assert '<select name="baseline"><option selected>v2</option>' not in html  # sorted options
    assert "<option selected>v2</option>" in html and "<option selected>v1</option>" in html
    assert refused.status_code == 422 and "metric" in refused.text


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
    assert re.search(r'<span id="model-count">3 models</span>', dom)
    assert len(re.findall(r'<polyline class="curve"', dom)) == 2
    assert len(re.findall(r'<tr class="model"', dom)) == 3


@pytest.mark.slow
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is not installed")
def test_a_screenshot_shows_the_chart_legend_and_calibration(
    database_url: str, trades: None, tmp_path: Path
) -> None:
    """The page as a person sees it: a PNG of the top of the page, checked for the colours of
    each model's curve and swatch (the legend is drawn, not cut off)."""
    from PIL import Image

    from order_service.ml.models_page import colour

    env = {"DATABASE_URL": database_url, "API_KEY": TEST_API_KEY, "APP_ENV": "test"}
    shot = tmp_path / "models.png"
    with ServiceProcess("order_service.main:create_app", env=env) as order:
        subprocess.run(
            [
                CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}",
                f"--screenshot={shot}", "--window-size=1100,1400", f"{order.url}/models",
            ],  # fmt: skip
            capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
    image = Image.open(shot).convert("RGB")
    assert image.size == (1100, 1400)
    seen = {pixel for _, pixel in image.getcolors(maxcolors=1_000_000) or []}
    for index in range(3):  # v1, v2 curves and swatches, v3's swatch
        hex_colour = colour(index)
        rgb = tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
        assert rgb in seen, f"model {index}'s colour {hex_colour} is not on the screen"
