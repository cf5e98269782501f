"""`/docs` and `/redoc` work offline: every asset comes from the service, none from a CDN."""

from __future__ import annotations

import re
import shutil
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from tests.conftest import TEST_API_KEY
from tests.support.processes import ServiceProcess

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ASSET = re.compile(r'(?:src|href)="([^"]+)"')


@pytest.fixture(scope="module")
def apps(database_url: str) -> Iterator[dict[str, FastAPI]]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATABASE_URL", database_url)
        from market_data_service.main import create_app as market_data_app
        from order_service.main import create_app as order_app
        from quality_service.main import create_app as quality_app

        yield {"market-data": market_data_app(), "order": order_app(), "quality": quality_app()}


def _client(app: FastAPI) -> Any:
    with warnings.catch_warnings():  # starlette prefers httpx2, which is not installed
        warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
        from fastapi.testclient import TestClient
    return TestClient(app)


@pytest.mark.parametrize("service", ["market-data", "order", "quality"])
@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_pages_load_only_assets_the_service_serves(
    apps: dict[str, FastAPI], service: str, page: str
) -> None:
    client = _client(apps[service])
    html = client.get(page)
    assert html.status_code == 200 and "text/html" in html.headers["content-type"]
    assets = ASSET.findall(html.text)
    assert assets, "the page loads no script at all"
    for url in assets:
        assert url.startswith("/"), f"{page} loads {url} from elsewhere"
        asset = client.get(url)
        assert asset.status_code == 200 and len(asset.content) > 1000, url
    assert "/openapi.json" in html.text


@pytest.mark.slow
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is not installed")
def test_swagger_ui_renders_in_headless_chromium_with_the_network_off(
    database_url: str, tmp_path: Path
) -> None:
    """A dead proxy for everything but loopback: a CDN request would fail, ours do not."""
    env = {"DATABASE_URL": database_url, "API_KEY": TEST_API_KEY, "APP_ENV": "test"}
    with ServiceProcess("order_service.main:create_app", env=env) as order:
        dom = subprocess.run(
            [
                CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--proxy-server=http://127.0.0.1:9", f"--user-data-dir={tmp_path}",
                "--virtual-time-budget=15000", "--dump-dom", f"{order.url}/docs",
            ],  # fmt: skip
            capture_output=True, text=True, timeout=120, check=True,
        ).stdout  # fmt: skip
    assert 'class="swagger-ui' in dom
    # Swagger UI built the operations from /openapi.json: the page rendered, not just loaded.
    for operation_id in ("placeOrder", "closePosition", "listOrders"):
        assert f"-{operation_id}" in dom, operation_id
