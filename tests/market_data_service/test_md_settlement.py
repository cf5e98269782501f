"""`GET /v1/settlement/{underlying}`: the value an expiry settles against, replay and simulated."""

from __future__ import annotations

from datetime import date
from typing import Any

from market_data_service.providers.simulated import SESSION_MINUTES, SimulatedProvider

CLOSE = "2025-12-02T15:30:00+05:30"


def settlement(client: Any, expiry: str, as_of: str | None = None) -> Any:
    params = {"expiry": expiry} | ({"as_of": as_of} if as_of else {})
    return client.get("/v1/settlement/NIFTY", params=params)


def test_replay_settles_on_nse_official_close_not_the_last_tick(replay: Any) -> None:
    response = settlement(replay, "2025-12-02", CLOSE)
    assert response.status_code == 200, response.text
    body = response.json()
    # records.index.last = 26032.20; records.underlyingValue = 26057.65 in the 15:30 file.
    assert (body["settlement_price"], body["price_source"]) == (26032.20, "official_close")
    assert body["as_of"] == "2025-12-02T10:00:00Z" and body["lot_size"] == 75
    assert body["vix"] == 11.23 and round(body["pcr"], 4) == 0.7368
    (row,) = [r for r in body["strikes"] if r["strike"] == 26100]
    assert (row["pe"]["bid"], row["pe"]["ask"]) == (67.55, 67.65)
    assert settlement(replay, "2025-12-02").json() == body  # later instants: the same close


def test_replay_before_the_close_or_without_a_close_snapshot_is_a_404(replay: Any) -> None:
    early = settlement(replay, "2025-12-02", "2025-12-02T15:13:29+05:30")
    assert early.status_code == 404 and "settles at 15:30 IST" in early.json()["detail"]
    missing = settlement(replay, "2025-12-09")
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["field"] == "expiry"
    assert "no snapshot from the close" in missing.json()["detail"]


def test_simulated_settles_on_its_15_30_value(simulated: Any) -> None:
    body = settlement(simulated, "2025-12-02").json()
    provider = SimulatedProvider(seed=42)
    path_close = provider._path(provider._spec("NIFTY"), date(2025, 12, 2))[SESSION_MINUTES]
    assert body["settlement_price"] == round(path_close, 2)
    assert body["price_source"] == "close" and body["as_of"] == "2025-12-02T10:00:00Z"
    after = simulated.get("/v1/context/NIFTY", params={"as_of": "2025-12-02T16:00:00+05:30"})
    assert after.json()["spot"] == body["settlement_price"]  # the market rests at that close


def test_simulated_refuses_a_date_that_is_no_expiry_and_a_future_one(simulated: Any) -> None:
    wednesday = settlement(simulated, "2025-12-03")
    assert (
        wednesday.status_code == 404 and "no NIFTY contract expires" in wednesday.json()["detail"]
    )
    early = settlement(simulated, "2025-12-02", "2025-12-02T15:29:00+05:30")
    assert early.status_code == 404 and "settles at 15:30 IST" in early.json()["detail"]
