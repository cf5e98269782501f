"""The service as real uvicorn processes over HTTP: both providers and the fault modes whose
behaviour depends on a real server (a rewritten body's length on the wire, a request that never
answers). error500, garbage and stale go through the same middleware in test_md_units."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.market_data_service.conftest import INDIA_VIX_FILE
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.slow

FACTORY = "market_data_service.main:create_app"
FAULTS = ("nan", "hang")  # each process costs ~4 s of CPU at start-up: keep the set small
MORNING = "2025-12-02T09:34:45+05:30"
AS_OF = "2025-12-02T10:00:00+05:30"
QUOTE = {"as_of": AS_OF, "expiry": "2025-12-09", "strike": "26000", "option_type": "CE"}


@pytest.fixture(scope="module")
def services(
    nse_snapshot_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, ServiceProcess]]:
    """Every process this module needs, started side by side (imports dominate start-up)."""
    logs = tmp_path_factory.mktemp("md-logs")
    base = {"APP_ENV": "test", "MARKET_DATA_FAULT": "none", "MARKET_DATA_SEED": "42",
            "MARKET_DATA_PROVIDER": "simulated", "MARKET_DATA_INSTANCE": "primary"}  # fmt: skip
    envs = {
        "simulated": base,
        "replay": {
            **base,
            "MARKET_DATA_PROVIDER": "nse-replay",
            "NSE_REPLAY_DIR": str(nse_snapshot_dir),
            "INDIA_VIX_FILE": str(INDIA_VIX_FILE),
            "MARKET_DATA_INSTANCE": "fallback",
        },  # fmt: skip
        **{fault: {**base, "MARKET_DATA_FAULT": fault} for fault in FAULTS},
    }
    processes = {
        name: ServiceProcess(FACTORY, env=env, log_path=logs / f"{name}.log")
        for name, env in envs.items()
    }
    try:
        with ThreadPoolExecutor(len(processes)) as pool:
            list(pool.map(lambda p: p.start(timeout=90), processes.values()))
        yield processes
    finally:
        for process in processes.values():
            process.stop()


def test_simulated_process_serves_every_endpoint(services: dict[str, ServiceProcess]) -> None:
    url = services["simulated"].url
    with httpx.Client(base_url=url, timeout=10) as client:
        assert client.get("/healthz").json() == {
            "provider": "simulated", "instance": "primary", "status": "ok", "service": "market-data"
        }  # fmt: skip
        assert client.get("/readyz").json()["status"] == "ready"
        nifty = next(
            u for u in client.get("/v1/underlyings").json()["underlyings"] if u["name"] == "NIFTY"
        )
        expiry = nifty["expiries"][0]["expiry"]
        strike = round(nifty["spot"] / 50) * 50
        quote = client.get(
            "/v1/quote/NIFTY", params={"expiry": expiry, "strike": strike, "option_type": "PE"}
        )
        assert (
            quote.status_code == 200
            and quote.json()["lot_size"] == nifty["expiries"][0]["lot_size"]
        )
        greeks = client.post("/v1/greeks", json={"model": "bsm", "items": [
            {"option_type": "CE", "spot": 100, "strike": 100, "t_years": 1, "rate": 0, "iv": 20}
        ]})  # fmt: skip
        assert greeks.json()["items"][0]["price"] == pytest.approx(7.9655674554, rel=1e-9)
        metrics = client.get("/metrics").text
        assert 'http_requests_total{method="GET",route="/v1/quote/{underlying}"' in metrics


def test_processes_with_one_seed_agree_with_an_in_process_app(
    services: dict[str, ServiceProcess], simulated: object
) -> None:
    """Python's hash() is salted per process; the simulated market must not depend on it."""
    params = {"as_of": AS_OF, "expiry": "2025-12-30"}
    over_http = httpx.get(f"{services['simulated'].url}/v1/chain/NIFTY", params=params).json()
    in_process = simulated.get("/v1/chain/NIFTY", params=params).json()  # type: ignore[attr-defined]
    assert over_http == in_process


def test_replay_process_serves_the_recorded_market(services: dict[str, ServiceProcess]) -> None:
    url = services["replay"].url
    params = {"as_of": MORNING, "expiry": "2025-12-02", "strike": "26100", "option_type": "CE"}
    quote = httpx.get(f"{url}/v1/quote/NIFTY", params=params).json()
    assert (quote["bid"], quote["ask"], quote["spot"], quote["vix"]) == (
        64.85,
        65.0,
        26122.65,
        11.63,
    )
    assert quote["provider"] == "nse-replay" and quote["instance"] == "fallback"
    assert quote["as_of"] == "2025-12-02T04:04:45Z" and quote["delta"] is not None
    assert httpx.get(f"{url}/healthz").json()["provider"] == "nse-replay"


def test_fault_nan(services: dict[str, ServiceProcess]) -> None:
    good = httpx.get(f"{services['simulated'].url}/v1/quote/NIFTY", params=QUOTE).json()
    response = httpx.get(f"{services['nan'].url}/v1/quote/NIFTY", params=QUOTE)
    assert response.status_code == 200 and b"NaN" in response.content
    body = json.loads(response.content)  # the rewritten body arrives whole (Content-Length)
    assert math.isnan(body["delta"]) and math.isnan(body["iv"])
    assert body["bid"] == good["bid"] and body["as_of"] == good["as_of"]
    context = json.loads(httpx.get(f"{services['nan'].url}/v1/context/NIFTY").content)
    assert math.isnan(context["spot"])
    assert httpx.get(f"{services['nan'].url}/v1/chain/NIFTY").status_code == 200


def test_fault_hang_never_answers_but_stays_alive(services: dict[str, ServiceProcess]) -> None:
    url = services["hang"].url
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{url}/v1/quote/NIFTY", params=QUOTE, timeout=httpx.Timeout(1.0, read=0.5))
    assert time.monotonic() - started < 2
    assert httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    assert httpx.get(f"{url}/v1/chain/NIFTY", timeout=10).status_code == 200
