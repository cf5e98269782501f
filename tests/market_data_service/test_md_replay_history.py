"""Replay of the six weeks of real NSE history as it ships (13-Oct..21-Nov-2025, 358 gzip files in
one folder a day, index.csv): no look across the night, the max age, the six settlements, India
VIX without look-ahead. Expected values are read from the raw gzip JSON here, not through the
provider."""

from __future__ import annotations

import csv
import gzip
import json
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from market_data_service.settings import MarketDataSettings
from optrade.domain import IST
from tests.market_data_service.conftest import INDIA_VIX_FILE, in_process_client, replay_settings

FIRST_OF_13_NOV = "2025-11-13/NIFTY_2025-11-13_10-00-15_IST.json.gz"


def raw(folder: Path, name: str) -> dict[str, Any]:
    """One snapshot as NSE sent it (gunzip, then JSON)."""
    with gzip.open(folder / name) as handle:
        body: dict[str, Any] = json.load(handle)
    return body


def nse_date(text: str) -> date:
    return datetime.strptime(text, "%d-%b-%Y").date()


def test_the_whole_history_is_indexed_from_its_day_folders(history: Any) -> None:
    response = history.get(
        "/v1/replay/instants",
        params={"underlying": "NIFTY", "from": "2025-10-13", "to": "2025-11-22"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    instants = [datetime.fromisoformat(t) for t in body["instants"]]
    assert len(instants) == 358 and instants == sorted(instants)
    assert len({t.astimezone(IST).date() for t in instants}) == 28
    assert instants[0] == datetime(2025, 10, 13, 13, 53, 23, tzinfo=IST)
    assert instants[-1] == datetime(2025, 11, 21, 15, 30, tzinfo=IST)
    assert body["max_age_seconds"] == 45 * 60 and body["provider"] == "nse-replay"


def test_instants_of_one_session_are_its_snapshots_in_time_order(history: Any) -> None:
    params = {"underlying": "nifty", "from": "2025-11-13T00:00:00+05:30", "to": "2025-11-13T23:59"}
    body = history.get("/v1/replay/instants", params=params).json()
    wall = [
        datetime.fromisoformat(t).astimezone(IST).strftime("%H:%M:%S") for t in body["instants"]
    ]
    assert len(wall) == 18 and wall[0] == "10:00:15" and wall[-1] == "15:30:00"


def test_instants_refuse_a_reversed_range_and_an_unknown_underlying(history: Any) -> None:
    reversed_range = history.get(
        "/v1/replay/instants",
        params={"underlying": "NIFTY", "from": "2025-11-14", "to": "2025-11-13"},
    )
    assert reversed_range.status_code == 422
    assert reversed_range.json()["errors"][0]["field"] == "to"
    unknown = history.get("/v1/replay/instants", params={"underlying": "SENSEX"})
    assert unknown.status_code == 404 and unknown.json()["errors"][0]["field"] == "underlying"


def test_a_provider_that_replays_nothing_lists_no_instants(simulated: Any) -> None:
    response = simulated.get("/v1/replay/instants", params={"underlying": "NIFTY"})
    assert response.status_code == 404 and "replays no recorded snapshots" in response.text


def test_09_20_on_13_nov_is_no_data_naming_the_sessions_first_snapshot(history: Any) -> None:
    response = history.get("/v1/chain/NIFTY", params={"as_of": "2025-11-13T09:20:00+05:30"})
    assert response.status_code == 404, response.text
    body = response.json()
    assert body["type"] == "/problems/no-data" and body["errors"][0]["field"] == "as_of"
    assert body["next_as_of"] == "2025-11-13T10:00:15+05:30"
    assert "the next snapshot is 2025-11-13T10:00:15+05:30" in body["detail"]
    # the 12-Nov close exists and is not served across the night
    assert "2025-11-12T15:30:00+05:30, is of another session" in body["detail"]
    context = history.get("/v1/context/NIFTY", params={"as_of": "2025-11-13T09:20:00+05:30"})
    assert context.status_code == 404 and context.json()["next_as_of"] == body["next_as_of"]


def test_at_the_sessions_first_snapshot_the_atm_quotes_are_the_files(
    history: Any, nse_history_dir: Path
) -> None:
    records = raw(nse_history_dir, FIRST_OF_13_NOV)["records"]
    expiry = nse_date(records["expiryDates"][0])
    rows = [r for r in records["data"] if nse_date(r["expiryDate"]) == expiry]
    atm = min(rows, key=lambda r: abs(r["strikePrice"] - records["underlyingValue"]))
    response = history.get(
        "/v1/chain/NIFTY",
        params={"as_of": "2025-11-13T10:00:15+05:30", "expiry": expiry.isoformat()},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["as_of"] == "2025-11-13T04:30:15Z" and body["spot"] == records["underlyingValue"]
    served = next(s for s in body["strikes"] if s["strike"] == atm["strikePrice"])
    for side in ("CE", "PE"):
        leg, ours = atm[side], served[side.lower()]
        expected = (leg["bidprice"], leg["askPrice"], leg["lastPrice"], leg["openInterest"],
                    leg["totalTradedVolume"], leg["impliedVolatility"])  # fmt: skip
        assert all(v > 0 for v in expected), expected  # zeros would be served as null
        assert (ours["bid"], ours["ask"], ours["ltp"], ours["oi"], ours["volume"],
                ours["nse_iv"]) == expected  # fmt: skip


@pytest.mark.parametrize(
    "expiry", ["2025-10-14", "2025-10-20", "2025-10-28", "2025-11-04", "2025-11-11", "2025-11-18"]
)
def test_each_weekly_expiry_settles_on_its_days_15_30_index_close(
    history: Any, nse_history_dir: Path, expiry: str
) -> None:
    close_file = f"{expiry}/NIFTY_{expiry}_15-30-00_IST.json.gz"
    records = raw(nse_history_dir, close_file)["records"]
    assert records["timestamp"].endswith("15:30:00")
    response = history.get("/v1/settlement/NIFTY", params={"expiry": expiry})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["settlement_price"] == records["index"]["last"]
    assert body["price_source"] == "official_close"
    assert body["as_of"] == f"{expiry}T10:00:00Z"  # 15:30:00 IST
    early = history.get(
        "/v1/settlement/NIFTY", params={"expiry": expiry, "as_of": f"{expiry}T15:29:59+05:30"}
    )
    assert early.status_code == 404 and "settles at 15:30 IST" in early.json()["detail"]


def test_the_settlement_close_is_not_the_last_tick(history: Any, nse_history_dir: Path) -> None:
    """On 18-Nov the 15:30 file's last tick and index close differ; the close is what settles."""
    records = raw(nse_history_dir, "2025-11-18/NIFTY_2025-11-18_15-30-00_IST.json.gz")["records"]
    assert records["index"]["last"] != records["underlyingValue"]
    body = history.get("/v1/settlement/NIFTY", params={"expiry": "2025-11-18"}).json()
    assert body["settlement_price"] != records["underlyingValue"]


# 20-Oct-2025: 13:18:21 is followed by 15:09:55, a gap of 1h51m in the session.
@pytest.mark.parametrize(
    ("as_of", "served"),
    [
        ("2025-10-20T14:03:21+05:30", "2025-10-20T07:48:21Z"),  # 45 minutes after 13:18:21
        ("2025-10-20T14:03:22+05:30", None),  # a second more: no data until 15:09:55
        ("2025-10-20T15:09:55+05:30", "2025-10-20T09:39:55Z"),
    ],
)
def test_a_snapshot_serves_its_session_for_45_minutes(
    history: Any, as_of: str, served: str | None
) -> None:
    response = history.get("/v1/context/NIFTY", params={"as_of": as_of})
    if served is None:
        assert response.status_code == 404
        assert response.json()["next_as_of"] == "2025-10-20T15:09:55+05:30"
        assert "is 45m01s old" in response.json()["detail"]
    else:
        assert response.status_code == 200, response.text
        assert response.json()["as_of"] == served


def test_the_max_age_is_a_setting(nse_history_dir: Path) -> None:
    """13-Nov: 14:07:23 then 14:27:24; at 14:20 ten minutes is too old, 45 is not."""
    at = {"as_of": "2025-11-13T14:20:00+05:30"}
    settings = replay_settings(nse_history_dir, replay_max_age=timedelta(minutes=10))
    with in_process_client(settings) as client:
        response = client.get("/v1/context/NIFTY", params=at)
        assert response.status_code == 404
        assert response.json()["next_as_of"] == "2025-11-13T14:27:24+05:30"
        assert "(10m00s)" in response.json()["detail"]
    with in_process_client(replay_settings(nse_history_dir)) as client:
        assert client.get("/v1/context/NIFTY", params=at).json()["as_of"] == "2025-11-13T08:37:23Z"


@pytest.mark.parametrize(("text", "seconds"), [("600", 600), ("PT45M", 2700), ("01:30:00", 5400)])
def test_the_max_age_reads_seconds_or_a_duration(
    monkeypatch: pytest.MonkeyPatch, text: str, seconds: int
) -> None:
    monkeypatch.setenv("MARKET_DATA_REPLAY_MAX_AGE", text)
    assert MarketDataSettings().replay_max_age == timedelta(seconds=seconds)


def test_a_max_age_of_zero_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MARKET_DATA_REPLAY_MAX_AGE", "0")
    with pytest.raises(ValueError, match="MARKET_DATA_REPLAY_MAX_AGE|replay_max_age"):
        MarketDataSettings()


def _published_vix(at: datetime) -> float:
    """The India VIX a trader could know at `at`: the close of the latest trading day before it,
    or that day's from 15:30 IST (read from NSE's CSV here, not through the provider)."""
    closes: dict[date, float] = {}
    with INDIA_VIX_FILE.open(newline="", encoding="utf-8-sig") as handle:
        for row in csv.reader(handle):
            if row and row[0][:2].isdigit():
                closes[datetime.strptime(row[0].strip().title(), "%d-%b-%Y").date()] = float(row[4])
    local = at.astimezone(IST)
    today_published = local.time() >= time(15, 30)
    return closes[
        max(d for d in closes if d < local.date() or (today_published and d == local.date()))
    ]


@pytest.mark.parametrize(
    ("as_of", "vix"),
    [
        ("2025-11-13T10:00:15+05:30", 12.11),  # 12-Nov close: 13-Nov's is not known yet
        ("2025-11-13T15:29:26+05:30", 12.11),
        ("2025-11-13T15:30:00+05:30", 12.16),  # the day's close, published at 15:30
        ("2025-10-20T10:11:15+05:30", 11.63),  # Monday: Friday 17-Oct's close
        ("2025-10-21T14:45:15+05:30", 11.36),  # Muhurat session: 20-Oct's close, not 21-Oct's
    ],
)
def test_india_vix_is_the_close_published_at_the_snapshot(
    history: Any, as_of: str, vix: float
) -> None:
    body = history.get("/v1/context/NIFTY", params={"as_of": as_of}).json()
    assert body["vix"] == vix == _published_vix(datetime.fromisoformat(as_of))


def test_no_snapshot_sees_a_later_vix_close(history: Any) -> None:
    """The first and last snapshot of every session carry the VIX published by then."""
    instants = history.get("/v1/replay/instants", params={"underlying": "NIFTY"}).json()["instants"]
    by_session: dict[date, list[datetime]] = {}
    for text in instants:
        at = datetime.fromisoformat(text)
        by_session.setdefault(at.astimezone(IST).date(), []).append(at)
    assert len(by_session) == 28
    for day in by_session.values():
        for at in (day[0], day[-1]):
            body = history.get("/v1/context/NIFTY", params={"as_of": at.isoformat()}).json()
            assert body["vix"] == _published_vix(at), at
