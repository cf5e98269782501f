"""What the replay reads: folders searched recursively, `*.json`, `*.json.gz` and the legacy CSV
side by side, files indexed from `index.csv` without being opened, and the week shipped in
samples/nse/ served as `make run` serves it."""

from __future__ import annotations

import gzip
import importlib.util
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from market_data_service.providers.nse_replay import files, index_folder
from tests.conftest import SHARED_DATA
from tests.market_data_service.conftest import in_process_client, replay_settings
from tests.support.processes import REPO_ROOT

MORNING_FILE = "NIFTY_2025-12-02_09-34-45_IST.json"
LATE_FILE = "NIFTY_2025-12-02_15-13-29_IST.json"
CLOSE_FILE = "NIFTY_2025-12-02_15-30-00_IST.json"
LEGACY_DIR = SHARED_DATA / "nse" / "legacy_2019_html_csv"
SAMPLE_DIR = REPO_ROOT / "samples" / "nse" / "history"
SAMPLE_VIX = (
    REPO_ROOT / "samples" / "nse" / "india_vix" / "india_vix_daily_2025-11-14_to_2025-11-21.csv"
)


def spot_at(client: Any, as_of: str) -> float:
    response = client.get("/v1/context/NIFTY", params={"as_of": as_of})
    assert response.status_code == 200, response.text
    spot: float = response.json()["spot"]
    return spot


def test_nested_folders_gzip_and_plain_json_and_legacy_csv_are_all_served(
    nse_snapshot_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "2025" / "12-02").mkdir(parents=True)
    (tmp_path / "plain").mkdir()
    packed = tmp_path / "2025" / "12-02" / f"{MORNING_FILE}.gz"
    packed.write_bytes(gzip.compress((nse_snapshot_dir / MORNING_FILE).read_bytes()))
    shutil.copy(nse_snapshot_dir / LATE_FILE, tmp_path / "plain" / LATE_FILE)
    shutil.copytree(LEGACY_DIR, tmp_path / "legacy" / "2019")
    with in_process_client(replay_settings(tmp_path)) as client:
        assert spot_at(client, "2025-12-02T09:34:45+05:30") == 26122.65  # the gzip file
        assert spot_at(client, "2025-12-02T15:13:29+05:30") == 26032.40  # the plain one
        assert spot_at(client, "2019-09-09T09:30:00+05:30") == 10899.70  # a legacy CSV
        instants = client.get("/v1/replay/instants", params={"underlying": "NIFTY"}).json()
    assert len(instants["instants"]) == 2 + 4


def test_a_corrupt_gzip_is_skipped_not_fatal(nse_snapshot_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "broken_IST.json.gz").write_bytes(b"\x1f\x8b\x08\x00not gzip at all")
    (tmp_path / MORNING_FILE).write_bytes((nse_snapshot_dir / MORNING_FILE).read_bytes())
    assert [f.path.name for f in index_folder(tmp_path)] == [MORNING_FILE]


def test_index_csv_times_the_files_without_opening_them(
    nse_history_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def never(path: Path) -> Any:
        raise AssertionError(f"{path} was opened while indexing")

    monkeypatch.setattr(files, "open_snapshot", never)
    started = time.perf_counter()
    indexed = index_folder(nse_history_dir)
    assert len(indexed) == 358 and time.perf_counter() - started < 10


def test_without_index_csv_the_time_is_scanned_from_the_data(
    nse_history_dir: Path, tmp_path: Path
) -> None:
    day = nse_history_dir / "2025-11-13"
    for path in sorted(day.iterdir())[:3]:
        # a name that says nothing of the time: the data's records.timestamp decides
        (tmp_path / f"NIFTY_{path.name[-20:]}").write_bytes(path.read_bytes())
    with_index = {f.taken_at for f in index_folder(day.parent) if f.path.parent == day}
    scanned = {f.taken_at for f in index_folder(tmp_path)}
    assert len(scanned) == 3 and scanned <= with_index


def test_index_csv_rows_of_missing_files_are_ignored(
    nse_snapshot_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "index.csv").write_text(
        "file,nse_timestamp_ist\n"
        f"{MORNING_FILE},2025-12-02T09:34:45\n"
        "gone/NIFTY_2025-12-03_09-30-00_IST.json.gz,2025-12-03T09:30:00\n"
    )
    (tmp_path / MORNING_FILE).write_bytes((nse_snapshot_dir / MORNING_FILE).read_bytes())
    (tmp_path / CLOSE_FILE).write_bytes((nse_snapshot_dir / CLOSE_FILE).read_bytes())  # unlisted
    indexed = sorted((f.path.name, f.taken_at.isoformat()) for f in index_folder(tmp_path))
    assert indexed == [
        (MORNING_FILE, "2025-12-02T04:04:45+00:00"),
        (CLOSE_FILE, "2025-12-02T10:00:00+00:00"),
    ]


@pytest.fixture(scope="module")
def sample() -> Any:
    assert (SAMPLE_DIR / "index.csv").is_file() and SAMPLE_VIX.is_file()
    with in_process_client(replay_settings(SAMPLE_DIR, india_vix_file=SAMPLE_VIX)) as client:
        yield client


def test_the_sample_week_is_the_history_byte_for_byte(nse_history_dir: Path) -> None:
    shipped = sorted(p.relative_to(SAMPLE_DIR) for p in SAMPLE_DIR.rglob("*.json.gz"))
    assert len(shipped) == 86
    assert {p.parts[0] for p in shipped} == {f"2025-11-{d}" for d in (17, 18, 19, 20, 21)}
    for path in shipped:
        assert (SAMPLE_DIR / path).read_bytes() == (nse_history_dir / path).read_bytes(), path
    rows = (SAMPLE_DIR / "index.csv").read_text().splitlines()
    history_rows = set((nse_history_dir / "index.csv").read_text().splitlines())
    assert len(rows) == 87 and set(rows) <= history_rows  # the header and one row per file


def test_the_sample_week_serves_the_18_nov_expiry(sample: Any) -> None:
    instants = sample.get("/v1/replay/instants", params={"underlying": "NIFTY"}).json()["instants"]
    assert len(instants) == 86
    morning = sample.get("/v1/context/NIFTY", params={"as_of": "2025-11-17T09:45:00+05:30"}).json()
    assert morning["as_of"] == "2025-11-17T04:00:44Z" and morning["vix"] == 11.94  # 14-Nov close
    with gzip.open(SAMPLE_DIR / "2025-11-18" / "NIFTY_2025-11-18_15-30-00_IST.json.gz") as fh:
        close = json.load(fh)["records"]["index"]["last"]
    settled = sample.get("/v1/settlement/NIFTY", params={"expiry": "2025-11-18"}).json()
    assert settled["settlement_price"] == close and settled["vix"] == 12.1


def _run_stack() -> Any:
    spec = importlib.util.spec_from_file_location("run_stack", REPO_ROOT / "scripts/run_stack.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["run_stack"] = module  # its dataclasses look their module up while defined
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules["run_stack"]
    return module


def test_make_run_replays_the_sample_week_when_no_folder_is_given() -> None:
    env = {"MARKET_DATA_PROVIDER": "nse-replay", "MARKET_DATA_PORT": "8001"}
    run_stack = _run_stack()
    line = run_stack._replay_defaults(env)
    assert env["MARKET_DATA_NSE_REPLAY_DIR"] == str(SAMPLE_DIR)
    assert env["MARKET_DATA_INDIA_VIX_FILE"] == str(SAMPLE_VIX)
    assert "/v1/replay/instants" in line
    own = {"MARKET_DATA_PROVIDER": "nse-replay", "MARKET_DATA_PORT": "8001", "NSE_REPLAY_DIR": "x"}
    run_stack._replay_defaults(own)
    assert "MARKET_DATA_NSE_REPLAY_DIR" not in own and "MARKET_DATA_INDIA_VIX_FILE" not in own
    simulated = {"MARKET_DATA_PORT": "8001"}
    assert run_stack._replay_defaults(simulated) is None and len(simulated) == 1
