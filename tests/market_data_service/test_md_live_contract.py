"""Contract tests of the live providers: the market-data service as a real process on a fake
OpenAlgo and a fake Upstox server (real HTTP, built from ../shared/providers/*.md), both
serving the real NSE snapshot of 02-Dec-2025 09:34:45 IST moved to today, OI and volume in units.

Every expected number is read from the NSE file here, independently of the service's code.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from market_data_service.settings import MarketDataSettings
from tests.market_data_service.conftest import in_process_client
from tests.support.fake_brokers.nse_source import shift_for_today
from tests.support.fake_brokers.processes import (
    MARKET_DATA,
    OPENALGO_KEY,
    SNAPSHOT,
    UPSTOX_TOKEN,
    control,
    fake_broker,
    live_env,
)
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.slow

KINDS = ("openalgo", "upstox")
NSE_EXPIRY = date(2025, 12, 9)  # a week after the snapshot: live whatever the time of day
VIX_CLOSE_2025_12_02 = 11.23  # India VIX close on 02-Dec-2025 (the CSV in ../shared)
CACHE_SECONDS = "0.3"


def nse_rows(expiry: date) -> dict[float, dict[str, Any]]:
    """The NSE file's rows of `expiry` by strike (the source of every expected number)."""
    records = json.loads(SNAPSHOT.read_bytes())["records"]
    wanted = expiry.strftime("%d-%b-%Y")
    return {float(r["strikePrice"]): r for r in records["data"] if r["expiryDate"] == wanted}


def shifted(expiry: date) -> date:
    return expiry + timedelta(days=shift_for_today(SNAPSHOT))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Fake OpenAlgo and Upstox, and one market-data instance on each, recording to a folder."""
    logs = tmp_path_factory.mktemp("live-logs")
    recordings = tmp_path_factory.mktemp("recordings")
    brokers = {kind: fake_broker(kind, log_dir=logs) for kind in KINDS}
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda p: p.start(), brokers.values()))
    services = {
        kind: ServiceProcess(MARKET_DATA, log_path=logs / f"md-{kind}.log", env=live_env(
            kind, brokers[kind].url, recordings, OPENALGO_CACHE_SECONDS=CACHE_SECONDS,
            UPSTOX_CACHE_SECONDS=CACHE_SECONDS, MARKET_DATA_INSTANCE="primary"))
        for kind in KINDS
    }  # fmt: skip
    try:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda p: p.start(), services.values()))
        yield {"brokers": brokers, "services": services, "recordings": recordings,
               "logs": logs}  # fmt: skip
    finally:
        for process in [*services.values(), *brokers.values()]:
            process.stop()


def get(service: ServiceProcess, path: str, **params: Any) -> httpx.Response:
    return httpx.get(f"{service.url}{path}", params=params, timeout=30)


def fresh(broker: ServiceProcess, **changes: Any) -> None:
    """Change the fake broker and wait out the service's cache."""
    control(broker, **changes)
    time.sleep(float(CACHE_SECONDS) + 0.1)


@pytest.mark.parametrize("kind", KINDS)
def test_chain_is_the_nse_snapshot_in_contracts_with_our_greeks(
    stack: dict[str, Any], kind: str
) -> None:
    response = get(stack["services"][kind], "/v1/chain/NIFTY", expiry=shifted(NSE_EXPIRY))
    assert response.status_code == 200, response.text
    chain = response.json()
    expected = nse_rows(NSE_EXPIRY)
    assert chain["provider"] == kind and chain["instance"] == "primary"
    assert chain["spot"] == 26122.65 and chain["lot_size"] == 75
    assert chain["vix"] == pytest.approx(VIX_CLOSE_2025_12_02)
    put_oi = sum(r["PE"]["openInterest"] for r in expected.values() if r.get("PE"))
    call_oi = sum(r["CE"]["openInterest"] for r in expected.values() if r.get("CE"))
    assert chain["pcr"] == pytest.approx(put_oi / call_oi, rel=1e-12)
    assert {s["strike"] for s in chain["strikes"]} == set(expected)
    priced = 0
    for row in chain["strikes"]:
        for side in ("CE", "PE"):
            nse, leg = expected[row["strike"]].get(side), row[side.lower()]
            assert (leg is None) == (nse is None)
            if leg is None:
                continue
            assert leg["oi"] == nse["openInterest"] and leg["volume"] == nse["totalTradedVolume"]
            assert leg["bid"] == (nse["bidprice"] or None) and leg["ask"] == (
                nse["askPrice"] or None
            )
            assert leg["ltp"] == (nse["lastPrice"] or None)
            assert leg["broker_iv"] == (nse["impliedVolatility"] or None)
            if leg["bid"] and leg["ask"] or leg["ltp"]:  # a priced leg: ours, or a stated reason
                assert leg["iv"] is not None or "intrinsic" in leg["greeks_error"], leg
                priced += leg["iv"] is not None
            otm = (row["strike"] > chain["spot"]) == (side == "CE")
            if otm and abs(row["strike"] - chain["spot"]) <= 1000 and leg["bid"] and leg["ask"]:
                assert leg["iv"] > 0 and leg["delta"] is not None and leg["vega"] > 0, leg
    assert priced > 100
    if kind == "openalgo":  # server_ts: the upstream's own time
        assert chain["as_of_source"] == "upstream" and chain["upstream_at"] is not None
    else:  # Upstox sends no timestamp: our receive time, said so
        assert chain["as_of_source"] == "received" and chain["upstream_at"] is None
    assert abs(datetime.fromisoformat(chain["as_of"]) - datetime.now(UTC)) < timedelta(minutes=1)


@pytest.mark.parametrize("kind", KINDS)
def test_quote_and_context_carry_provider_and_broker_iv(stack: dict[str, Any], kind: str) -> None:
    service = stack["services"][kind]
    quote = get(service, "/v1/quote/NIFTY", expiry=shifted(NSE_EXPIRY), strike=26100,
                option_type="PE").json()  # fmt: skip
    nse = nse_rows(NSE_EXPIRY)[26100.0]["PE"]
    assert quote["provider"] == kind and quote["instance"] == "primary"
    assert (quote["bid"], quote["ask"], quote["oi"]) == (nse["bidprice"], nse["askPrice"],
                                                         nse["openInterest"])  # fmt: skip
    assert quote["broker_iv"] == nse["impliedVolatility"] and quote["iv"] > 0
    assert quote["broker_delta"] < 0 and quote["delta"] < 0
    context = get(service, "/v1/context/NIFTY").json()
    assert context["spot"] == 26122.65 and context["vix"] == pytest.approx(VIX_CLOSE_2025_12_02)
    assert context["provider"] == kind and context["pcr"] > 0


@pytest.mark.parametrize("kind", KINDS)
def test_all_zero_leg_is_missing_and_odd_units_are_flagged(
    stack: dict[str, Any], kind: str
) -> None:
    broker, service = stack["brokers"][kind], stack["services"][kind]
    fresh(broker, zero_strikes=[26000], odd_oi_strikes=[26200])
    try:
        chain = get(service, "/v1/chain/NIFTY", expiry=shifted(NSE_EXPIRY)).json()
    finally:
        control(broker, zero_strikes=[], odd_oi_strikes=[])
    rows = {s["strike"]: s for s in chain["strikes"]}
    zero = rows[26000.0]["ce"]
    assert all(zero[f] is None for f in ("ltp", "bid", "ask", "oi", "volume", "iv", "delta"))
    assert "all-zero" in zero["units_warning"]
    odd = rows[26200.0]["ce"]
    nse_oi = nse_rows(NSE_EXPIRY)[26200.0]["CE"]["openInterest"]
    assert (
        odd["oi"] == pytest.approx(nse_oi + 1 / 75)
        and "not a multiple of lot 75" in (odd["units_warning"])
    )


@pytest.mark.parametrize("kind", KINDS)
def test_concurrent_callers_share_one_upstream_request(stack: dict[str, Any], kind: str) -> None:
    broker, service = stack["brokers"][kind], stack["services"][kind]
    chain_path = "optionchain" if kind == "openalgo" else "option/chain"
    fresh(broker, delay=2.0, reset_counts=True)  # all 50 arrive while the one fetch is in flight
    barrier = threading.Barrier(50)
    params = {"expiry": str(shifted(NSE_EXPIRY)), "strike": "26100", "option_type": "CE"}
    limits = httpx.Limits(max_connections=50)
    client = httpx.Client(base_url=service.url, timeout=30, limits=limits)

    def ask(_: int) -> httpx.Response:
        barrier.wait()
        return client.get("/v1/quote/NIFTY", params=params)

    try:
        with client, ThreadPoolExecutor(50) as pool:
            answers = list(pool.map(ask, range(50)))
        counts = control(broker, delay=0)["counts"]
    finally:
        control(broker, delay=0)
    assert [a.status_code for a in answers] == [200] * 50
    assert counts[chain_path] == 1, counts  # type: ignore[index]


@pytest.mark.parametrize("kind", KINDS)
def test_rate_limit_serves_the_fresh_cache_then_503_with_retry_after(
    stack: dict[str, Any], kind: str
) -> None:
    broker, service = stack["brokers"][kind], stack["services"][kind]
    params = {"expiry": shifted(NSE_EXPIRY), "strike": 26100, "option_type": "CE"}
    assert get(service, "/v1/quote/NIFTY", **params).status_code == 200
    fresh(broker, mode="429", retry_after=2)
    try:
        cached = get(service, "/v1/quote/NIFTY", **params)  # younger than the staleness limit
        other = get(service, "/v1/chain/NIFTY", expiry=shifted(date(2025, 12, 16)))
    finally:
        control(broker, mode="ok")
    assert cached.status_code == 200 and cached.json()["bid"] is not None
    assert other.status_code == 503 and other.json()["type"] == "/problems/provider-rate-limited"
    assert int(other.headers["Retry-After"]) >= 1
    # OpenAlgo says retry_after 2; Upstox documents no Retry-After: our default back-off (5 s)
    time.sleep(int(other.headers["Retry-After"]) + 0.3)  # the back-off is over: asked again
    assert get(service, "/v1/chain/NIFTY", expiry=shifted(date(2025, 12, 16))).status_code == 200


@pytest.mark.parametrize("kind", KINDS)
def test_auth_failure_is_provider_auth_failed_without_the_secret(
    stack: dict[str, Any], kind: str
) -> None:
    broker, service = stack["brokers"][kind], stack["services"][kind]
    fresh(broker, mode="401")
    try:
        answer = get(service, "/v1/chain/NIFTY", expiry=shifted(NSE_EXPIRY))
        ready = get(service, "/readyz")
    finally:
        control(broker, mode="ok")
    assert answer.status_code == 503 and answer.json()["type"] == "/problems/provider-auth-failed"
    assert "Retry-After" in answer.headers
    assert ready.status_code == 503 and "provider_auth_failed" in ready.text
    for text in (answer.text, ready.text, (stack["logs"] / f"md-{kind}.log").read_text()):
        assert OPENALGO_KEY not in text and UPSTOX_TOKEN not in text
    time.sleep(float(CACHE_SECONDS))
    assert get(service, "/v1/chain/NIFTY", expiry=shifted(NSE_EXPIRY)).status_code == 200
    assert get(service, "/readyz").status_code == 200


def test_stale_upstream_time_is_no_data(stack: dict[str, Any]) -> None:
    broker, service = stack["brokers"]["openalgo"], stack["services"]["openalgo"]
    fresh(broker, lag=600)
    try:
        answer = get(service, "/v1/quote/NIFTY", expiry=shifted(NSE_EXPIRY), strike=26100,
                     option_type="CE")  # fmt: skip
    finally:
        fresh(broker, lag=0)
    assert answer.status_code == 404 and answer.json()["type"] == "/problems/no-data"
    assert "stale" in answer.json()["detail"]


def test_an_instant_before_any_recording_is_no_data(stack: dict[str, Any]) -> None:
    yesterday = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    answer = get(stack["services"]["upstox"], "/v1/quote/NIFTY", expiry=shifted(NSE_EXPIRY),
                 strike=26100, option_type="CE", as_of=yesterday)  # fmt: skip
    assert answer.status_code == 404 and answer.json()["type"] == "/problems/no-data"
    assert "no recorded history for upstox at" in answer.json()["detail"]


@pytest.mark.parametrize("kind", KINDS)
def test_recorded_replays_the_live_chain_with_the_same_numbers(
    stack: dict[str, Any], kind: str
) -> None:
    live = get(stack["services"][kind], "/v1/chain/NIFTY", expiry=shifted(NSE_EXPIRY)).json()
    settings = MarketDataSettings(market_data_provider="recorded", recorded_provider=kind,
                                  recordings_dir=stack["recordings"])  # fmt: skip
    params = {"expiry": live["expiry"], "as_of": live["as_of"]}
    with in_process_client(settings) as client:
        for _ in range(50):  # the recording is written beside serving: it may land a moment later
            replayed = client.get("/v1/chain/NIFTY", params=params).json()
            if replayed.get("as_of") == live["as_of"]:
                break
            time.sleep(0.1)
    assert replayed["provider"] == "recorded"
    assert replayed["as_of"] == live["as_of"] and replayed["upstream_at"] == live["upstream_at"]
    for name in ("spot", "vix", "pcr", "lot_size", "as_of_source"):
        assert replayed[name] == live[name], name
    assert replayed["strikes"] == live["strikes"]  # prices, contracts, broker IV and our Greeks
    files = list(Path(stack["recordings"]).glob(f"{kind}/NIFTY/*/*.jsonl.gz"))
    assert files, "the live provider recorded nothing"


def test_production_refuses_a_live_provider_without_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from optrade.settings import ConfigurationError, reset_all_settings

    monkeypatch.setenv("APP_ENV", "production")
    reset_all_settings()
    for kind in KINDS:
        settings = MarketDataSettings(market_data_provider=kind)
        with (
            pytest.raises(ConfigurationError, match="OPENALGO_API_KEY|UPSTOX_ACCESS_TOKEN"),
            in_process_client(settings),
        ):
            pass
    reset_all_settings()
