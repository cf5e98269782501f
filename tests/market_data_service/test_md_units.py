"""Parsing (legacy and v3 NSE shapes), the VIX convention, settings and in-process faults."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from market_data_service.main import create_app
from market_data_service.pricing import ChainPricer, chain_greeks
from market_data_service.providers.india_vix import IndiaVixHistory
from market_data_service.providers.nse_replay import index_file, parse_leg, parse_snapshot
from market_data_service.providers.simulated import SimulatedProvider
from market_data_service.settings import MarketDataSettings
from optrade.domain import IST
from optrade.settings import ConfigurationError, reset_all_settings
from tests.market_data_service.conftest import INDIA_VIX_FILE, in_process_client, replay_settings

MORNING_FILE = "NIFTY_2025-12-02_09-34-45_IST.json"
CLOSE_FILE = "NIFTY_2025-12-02_15-30-00_IST.json"
AT_MORNING = {"as_of": "2025-12-02T09:34:45+05:30"}
AT_CLOSE = {"as_of": "2025-12-02T15:30:00+05:30"}


def test_zero_means_none_in_a_leg() -> None:
    leg = parse_leg({"lastPrice": 0, "bidprice": 0, "askPrice": 0.05, "impliedVolatility": 0,
                     "openInterest": 4.666666, "totalTradedVolume": 0})  # fmt: skip
    assert leg is not None
    assert (leg.ltp, leg.bid, leg.ask, leg.nse_iv) == (None, None, 0.05, None)
    assert leg.oi == pytest.approx(4.666666) and leg.volume == 0


def test_v3_leg_names_and_placeholder() -> None:
    leg = parse_leg({"buyPrice1": 64.85, "sellPrice1": 65.0, "lastPrice": 65.0,
                     "identifier": "OPTIDXNIFTY02-12-2025CE26100.00"})  # fmt: skip
    assert leg is not None and (leg.bid, leg.ask) == (64.85, 65.0)
    assert parse_leg({"identifier": None, "buyPrice1": 0, "sellPrice1": 0}) is None
    assert parse_leg(None) is None


def _to_v3(raw: dict[str, Any]) -> dict[str, Any]:
    """The legacy file in NSE's v3 shape: renamed bid/ask, `expiryDates` per row, DD-MM-YYYY leg
    dates, no `underlying` in legs and no index block."""
    renames = {"bidprice": "buyPrice1", "askPrice": "sellPrice1", "bidQty": "buyQuantity1",
               "askQty": "sellQuantity1"}  # fmt: skip
    rows = []
    for row in raw["records"]["data"]:
        new = {"strikePrice": row["strikePrice"], "expiryDates": row["expiryDate"]}
        for side in ("CE", "PE"):
            if side in row:
                leg = {renames.get(k, k): v for k, v in row[side].items() if k != "underlying"}
                leg["expiryDate"] = datetime.strptime(row["expiryDate"], "%d-%b-%Y").strftime(
                    "%d-%m-%Y"
                )
                new[side] = leg
        rows.append(new)
    records = {k: v for k, v in raw["records"].items() if k not in ("index", "data")}
    return {"records": {**records, "data": rows}}


def test_a_v3_snapshot_reads_like_the_legacy_one(nse_snapshot_dir: Path, tmp_path: Path) -> None:
    legacy_path = nse_snapshot_dir / MORNING_FILE
    v3_path = tmp_path / MORNING_FILE
    v3_path.write_text(json.dumps(_to_v3(json.loads(legacy_path.read_text()))))
    indexed = index_file(v3_path)
    assert indexed.underlying == "NIFTY"  # from the file name: legs no longer carry it
    assert indexed.taken_at == datetime(2025, 12, 2, 9, 34, 45, tzinfo=IST)
    legacy = parse_snapshot(legacy_path, "NIFTY")
    v3 = parse_snapshot(v3_path, "NIFTY")
    assert v3.chains == legacy.chains and v3.last == legacy.last
    assert v3.official_close is None and v3.quantity_gcd == legacy.quantity_gcd


def test_without_an_index_block_the_close_uses_the_last_tick(
    nse_snapshot_dir: Path, tmp_path: Path
) -> None:
    raw = json.loads((nse_snapshot_dir / CLOSE_FILE).read_text())
    del raw["records"]["index"]
    (tmp_path / CLOSE_FILE).write_text(json.dumps(raw))
    with in_process_client(replay_settings(tmp_path)) as client:
        body = client.get("/v1/context/NIFTY", params=AT_CLOSE).json()
        chain = client.get("/v1/chain/NIFTY", params={"expiry": "2025-12-02", **AT_CLOSE}).json()
    assert body["spot"] == chain["spot"] == 26057.65 and chain["spot_source"] == "last"


def test_files_that_are_not_snapshots_are_skipped(nse_snapshot_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "notes.json").write_text('{"hello": "world"}')
    (tmp_path / MORNING_FILE).write_bytes((nse_snapshot_dir / MORNING_FILE).read_bytes())
    with in_process_client(replay_settings(tmp_path)) as client:
        assert client.get("/readyz").status_code == 200
        assert client.get("/v1/context/NIFTY", params=AT_MORNING).json()["spot"] == 26122.65


def test_replay_without_a_folder_refuses_to_start(tmp_path: Path) -> None:
    for folder in (None, tmp_path / "missing", tmp_path):  # tmp_path: a folder with no snapshot
        with (
            pytest.raises(ConfigurationError),
            in_process_client(
                replay_settings(folder)
                if folder
                else MarketDataSettings(market_data_provider="nse-replay")
            ),  # fmt: skip
        ):
            pass


def test_vix_is_the_latest_close_published() -> None:
    vix = IndiaVixHistory.load(INDIA_VIX_FILE)
    assert vix.at(datetime(2025, 12, 2, 9, 34, 45, tzinfo=IST)) == 11.63  # 01-Dec close
    assert vix.at(datetime(2025, 12, 2, 15, 30, tzinfo=IST)) == 11.23  # 02-Dec close
    assert vix.at(datetime(2025, 12, 6, 12, 0, tzinfo=IST)) == 10.32  # Saturday: Friday's
    assert vix.at(datetime(2012, 1, 2, 10, 0, tzinfo=IST)) is None  # before the file
    assert vix.at(datetime(2026, 8, 20, 10, 0, tzinfo=UTC)) is None  # file ended: no stale VIX


def test_replay_without_vix_file_reports_null(nse_snapshot_dir: Path) -> None:
    settings = replay_settings(nse_snapshot_dir, india_vix_file=None)
    with in_process_client(settings) as client:
        assert client.get("/v1/context/NIFTY", params=AT_MORNING).json()["vix"] is None


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from market_data_service.settings import get_settings

    monkeypatch.setenv("MARKET_DATA_SEED", "7")
    monkeypatch.setenv("RISK_FREE_RATE", "0.055")
    monkeypatch.setenv("MARKET_DATA_INSTANCE", "fallback")
    settings = get_settings()
    assert (settings.market_data_seed, settings.risk_free_rate) == (7, 0.055)
    with in_process_client(settings) as client:
        assert client.get("/healthz").json()["instance"] == "fallback"
        body = client.get("/v1/chain/NIFTY", params={"as_of": "2025-12-02T10:00:00+05:30"}).json()
    assert body["rate"] == 0.055 and body["instance"] == "fallback"
    monkeypatch.setenv("RISK_FREE_RATE", "6.5")  # a percent where a decimal belongs
    from optrade.settings import reset_all_settings as reset_md

    reset_md()
    with pytest.raises(ValueError, match="risk_free_rate"):
        get_settings()


QUOTE = {"as_of": "2025-12-02T10:00:00+05:30", "expiry": "2025-12-09", "strike": "26000",
         "option_type": "CE"}  # fmt: skip


def _faulty(mode: str) -> Any:
    return in_process_client(MarketDataSettings(market_data_fault=mode))  # type: ignore[arg-type]


def test_fault_error500() -> None:
    with _faulty("error500") as client:
        assert client.get("/v1/quote/NIFTY", params=QUOTE).status_code == 500
        assert client.get("/v1/context/NIFTY").status_code == 500
        assert client.get("/v1/chain/NIFTY").status_code == 200  # only quote and context
        assert client.get("/healthz").status_code == 200


def test_fault_garbage_nan_and_stale() -> None:
    with _faulty("none") as client:
        good = client.get("/v1/quote/NIFTY", params=QUOTE).json()
    with _faulty("garbage") as client:
        response = client.get("/v1/quote/NIFTY", params=QUOTE)
        assert response.status_code == 200
        with pytest.raises(ValueError):
            json.loads(response.content)
    with _faulty("nan") as client:
        body = json.loads(client.get("/v1/quote/NIFTY", params=QUOTE).content)
        assert all(body[f] != body[f] for f in ("iv", "delta", "gamma", "theta", "vega"))
        assert body["bid"] == good["bid"]
        context = json.loads(client.get("/v1/context/NIFTY").content)
        assert context["spot"] != context["spot"]
    with _faulty("stale") as client:
        body = client.get("/v1/quote/NIFTY", params=QUOTE).json()
        as_of = datetime.fromisoformat(body["as_of"])
        assert (datetime.fromisoformat(good["as_of"]) - as_of).total_seconds() == 6 * 3600
        assert body["bid"] == good["bid"]
        missing = client.get("/v1/quote/NIFTY", params={**QUOTE, "strike": "26025"})
        assert missing.status_code == 404  # errors pass through undamaged


def test_faults_are_ignored_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    reset_all_settings()
    app = create_app(MarketDataSettings(market_data_fault="error500"))
    assert not any("Fault" in m.cls.__name__ for m in app.user_middleware)  # type: ignore[attr-defined]


def test_greeks_reason_for_a_leg_without_any_price() -> None:
    from market_data_service.pricing import NO_PRICE, chain_greeks
    from market_data_service.providers.base import Chain, Leg, StrikeRow

    legs = StrikeRow(26000.0, Leg(None, None, 5.0, 10.0, 0), Leg(None, 1.0, None, 10.0, 0))
    chain = Chain("NIFTY", date(2025, 12, 9), datetime(2025, 12, 2, 4, 0, tzinfo=UTC), 26000.0,
                  75, None, 1.0, (legs,))  # fmt: skip
    priced = chain_greeks(chain, rate=0.065, dividend_yield=0.0)
    assert priced[(26000.0, "CE")].error == NO_PRICE  # an offer alone is no price
    assert priced[(26000.0, "PE")].error == NO_PRICE


def test_the_chain_pricer_reuses_greeks_only_for_the_same_chain_object() -> None:
    chain = SimulatedProvider(seed=7).chain("NIFTY", None, datetime(2025, 12, 1, 5, 0, tzinfo=UTC))
    pricer = ChainPricer(rate=0.065, dividend_yield=0.0, size=2)
    first = pricer.greeks(chain)
    assert pricer.greeks(chain) is first  # the same chain: from the cache
    assert first == chain_greeks(chain, rate=0.065, dividend_yield=0.0)
    # Another chain under the same (underlying, expiry, as_of), e.g. from another provider:
    # priced afresh, never answered with the first chain's Greeks.
    moved = replace(chain, spot=chain.spot * 1.01)
    other = pricer.greeks(moved)
    assert other is not first and other != first
