"""Replay of the real NSE snapshots of the 02-Dec-2025 NIFTY weekly expiry (shared/data/nse)."""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from market_data_service import greeks
from market_data_service.pricing import EXPIRED, NO_PRICE
from market_data_service.providers.nse_replay import (
    NseReplayProvider,
    index_file,
    parse_snapshot,
)
from optrade.domain import IST
from tests.market_data_service.conftest import replay_settings

MORNING = "2025-12-02T09:34:45+05:30"  # expiry-day morning
LATE = "2025-12-02T15:13:29+05:30"  # 17 minutes before expiry
CLOSE = "2025-12-02T15:30:00+05:30"  # expiry close
PREVIOUS_CLOSE = "2025-12-01T15:30:00+05:30"
EXPIRY = "2025-12-02"
RATE = 0.065
INTRINSIC = "price at or below discounted intrinsic value"


def chain(client: Any, as_of: str, expiry: str = EXPIRY) -> dict[str, Any]:
    response = client.get("/v1/chain/NIFTY", params={"as_of": as_of, "expiry": expiry})
    assert response.status_code == 200, response.text
    return response.json()


def row(body: dict[str, Any], strike: float) -> dict[str, Any]:
    return next(r for r in body["strikes"] if r["strike"] == strike)


def quote(client: Any, as_of: str, strike: float, option_type: str, expiry: str = EXPIRY) -> Any:
    params = {"as_of": as_of, "expiry": expiry, "strike": strike, "option_type": option_type}
    return client.get("/v1/quote/NIFTY", params=params)


def test_expiry_morning_snapshot_is_served_as_recorded(replay: Any) -> None:
    body = chain(replay, MORNING)
    assert body["as_of"] == "2025-12-02T04:04:45Z"
    assert body["spot"] == 26122.65 and body["spot_source"] == "last"
    assert round(body["pcr"], 4) == 0.8934
    assert body["lot_size"] == 75 and body["provider"] == "nse-replay"
    assert body["vix"] == 11.63  # the previous close: 02-Dec's close is not known at 09:34
    atm = row(body, 26100)
    assert (atm["ce"]["bid"], atm["ce"]["ask"]) == (64.85, 65.00)
    assert (atm["pe"]["bid"], atm["pe"]["ask"]) == (38.40, 38.50)
    assert (atm["ce"]["nse_iv"], atm["pe"]["nse_iv"]) == (9.12, 9.27)
    assert atm["ce"]["price_source"] == "mid"
    assert atm["ce"]["delta"] == pytest.approx(0.57, abs=0.03)
    assert atm["pe"]["delta"] == pytest.approx(-0.43, abs=0.03)
    assert atm["ce"]["gamma"] > 0 and atm["ce"]["theta"] < 0 and atm["ce"]["vega"] > 0


def _priced(leg: dict[str, Any]) -> float | None:
    if leg["bid"] and leg["ask"]:
        return (leg["bid"] + leg["ask"]) / 2
    return leg["ltp"]


def _check_greeks_coverage(body: dict[str, Any]) -> dict[str | None, int]:
    """Every leg with a price has Greeks unless its IV is genuinely undefined; return reasons."""
    spot, t = body["spot"], body["time_to_expiry_years"]
    reasons: dict[str | None, int] = {}
    for r in body["strikes"]:
        for side in ("ce", "pe"):
            leg = r[side]
            if leg is None:
                continue
            reason = leg["greeks_error"]
            reasons[reason] = reasons.get(reason, 0) + 1
            price = _priced(leg)
            greek_values = [leg[g] for g in ("iv", "delta", "gamma", "theta", "vega", "rho")]
            if reason is None:
                assert all(v is not None and math.isfinite(v) for v in greek_values), r
                continue
            assert all(v is None for v in greek_values)
            if price is None:
                assert reason == NO_PRICE
                continue
            # an undefined IV only for an in-the-money leg priced at or near its intrinsic value
            intrinsic = (spot - r["strike"] * math.exp(-RATE * t)) * (1 if side == "ce" else -1)
            assert intrinsic > 0, (r["strike"], side, reason)
            if reason == INTRINSIC:
                assert price <= intrinsic + 1e-9
            else:
                assert reason == "no solution within volatility bounds"
    return reasons


def test_greeks_cover_every_priced_leg_of_the_expiry_morning(replay: Any) -> None:
    reasons = _check_greeks_coverage(chain(replay, MORNING))
    assert reasons[None] >= 130
    assert set(reasons) <= {None, INTRINSIC}


def test_seventeen_minutes_before_expiry(replay: Any) -> None:
    body = chain(replay, LATE)
    assert body["spot"] == 26032.40 and round(body["pcr"], 4) == 0.7545
    assert body["time_to_expiry_years"] * 365 * 24 * 60 == pytest.approx(16.52, abs=0.01)
    atm = row(body, 26050)
    assert (atm["ce"]["bid"], atm["ce"]["ask"], atm["pe"]["bid"], atm["pe"]["ask"]) == (
        0.30, 0.35, 19.55, 19.65
    )  # fmt: skip
    assert atm["ce"]["delta"] is not None and atm["pe"]["delta"] is not None
    assert atm["pe"]["delta"] < -0.5 < atm["ce"]["delta"] + 0.5
    reasons = _check_greeks_coverage(body)
    assert reasons[None] >= 120


def test_expiry_close_uses_the_settlement_value(replay: Any) -> None:
    body = chain(replay, CLOSE)
    assert body["spot"] == 26032.20 and body["spot_source"] == "settlement"
    assert body["time_to_expiry_years"] == 0 and body["vix"] == 11.23
    put = quote(replay, CLOSE, 26050, "PE").json()
    assert put["spot"] == 26032.20  # records.index.last, not the last tick 26057.65
    assert (put["bid"], put["ask"]) == (17.65, 17.70)  # against a settlement value of 17.80
    assert put["iv"] is None and put["greeks_error"] == EXPIRED
    # every other expiry in the same file still prices off the last tick
    later = chain(replay, CLOSE, expiry="2025-12-09")
    assert later["spot"] == 26057.65 and later["spot_source"] == "last"


def test_default_expiry_is_the_nearest_live_one(replay: Any) -> None:
    assert replay.get("/v1/chain/NIFTY", params={"as_of": MORNING}).json()["expiry"] == EXPIRY
    after = replay.get("/v1/context/NIFTY", params={"as_of": CLOSE}).json()
    assert after["expiry"] == "2025-12-09"  # 02-Dec expired at 15:30
    assert after["spot"] == 26057.65


@pytest.mark.parametrize(
    ("as_of", "served"),
    [
        ("2025-12-02T10:19:45+05:30", "2025-12-02T04:04:45Z"),  # 45 minutes after: still it
        (MORNING, "2025-12-02T04:04:45Z"),  # exactly at a snapshot
        ("2025-12-02T04:04:45Z", "2025-12-02T04:04:45Z"),  # the same instant in UTC
        ("2025-12-02T09:34:45", "2025-12-02T04:04:45Z"),  # naive = IST wall clock
        ("2025-12-02T15:29:59+05:30", "2025-12-02T09:43:29Z"),  # 15:13:29, the session's latest
    ],
)
def test_as_of_serves_the_snapshot_of_its_session_at_or_before(
    replay: Any, as_of: str, served: str
) -> None:
    response = replay.get("/v1/context/NIFTY", params={"as_of": as_of})
    assert response.status_code == 200, response.text
    assert response.json()["as_of"] == served


@pytest.mark.parametrize(
    ("as_of", "next_as_of", "reason"),
    [
        # a second before the session's first snapshot: never the 01-Dec close across the night
        ("2025-12-02T09:34:44+05:30", "2025-12-02T09:34:45+05:30", "is of another session"),
        # 45 minutes and a second after 09:34:45, the next snapshot is 15:13:29
        ("2025-12-02T10:19:46+05:30", "2025-12-02T15:13:29+05:30", "is 45m01s old"),
        ("2025-11-28T09:59:44+05:30", "2025-11-28T09:59:45+05:30", "no snapshot at or before"),
        ("2026-06-01T10:00:00+05:30", None, "is of another session"),  # after the last
    ],
)
def test_as_of_without_a_fresh_snapshot_of_its_session_is_no_data(
    replay: Any, as_of: str, next_as_of: str | None, reason: str
) -> None:
    response = replay.get("/v1/chain/NIFTY", params={"as_of": as_of})
    assert response.status_code == 404, response.text
    body = response.json()
    assert body["type"] == "/problems/no-data" and body["errors"][0]["field"] == "as_of"
    assert body["next_as_of"] == next_as_of
    assert reason in body["detail"]
    assert (f"the next snapshot is {next_as_of}" if next_as_of else "no snapshot follows") in (
        body["detail"]
    )


@pytest.mark.parametrize(
    ("expiry", "lot_size"),
    [("2025-12-09", 75), ("2025-12-30", 75), ("2026-01-27", 65), ("2026-02-24", 65),
     ("2026-03-31", 75)],
)  # fmt: skip
def test_other_expiries_in_the_file(replay: Any, expiry: str, lot_size: int) -> None:
    # Mar-2026: the table says 65 (all contracts from Jan-2026), but on 02-Dec-2025 NSE still
    # traded it in lots of 75; the file's order quantities say so, and the data wins.
    body = chain(replay, MORNING, expiry=expiry)
    assert body["lot_size"] == lot_size and body["expiry"] == expiry
    assert body["pcr"] > 0 and len(body["strikes"]) >= 10
    assert sum(1 for r in body["strikes"] for s in ("ce", "pe") if r[s] and r[s]["iv"]) > 0


def test_underlyings_lists_every_expiry_with_its_lot(replay: Any) -> None:
    body = replay.get("/v1/underlyings", params={"as_of": MORNING}).json()
    (nifty,) = body["underlyings"]
    assert nifty["name"] == "NIFTY" and nifty["spot"] == 26122.65 and nifty["strike_step"] == 50
    lots = {e["expiry"]: e["lot_size"] for e in nifty["expiries"]}
    assert lots["2025-12-02"] == 75 and lots["2026-01-27"] == 65
    assert list(lots)[:5] == ["2025-12-02", "2025-12-09", "2025-12-16", "2025-12-23", "2025-12-30"]


def _atm_iv(client: Any, as_of: str, expiry: str) -> tuple[float, float, float]:
    """(our ATM IV, NSE's, time to expiry in days), averaged over CE and PE at the ATM strike."""
    body = chain(client, as_of, expiry)
    atm = min(body["strikes"], key=lambda r: abs(r["strike"] - body["spot"]))
    ours = (atm["ce"]["iv"] + atm["pe"]["iv"]) / 2
    nse = (atm["ce"]["nse_iv"] + atm["pe"]["nse_iv"]) / 2
    return ours, nse, body["time_to_expiry_years"] * 365


@pytest.mark.parametrize(
    ("as_of", "expiry"),
    [(PREVIOUS_CLOSE, EXPIRY), (MORNING, "2025-12-09"), (LATE, "2025-12-09"),
     (MORNING, "2025-12-30")],
)  # fmt: skip
def test_recomputed_atm_iv_is_close_to_nse(replay: Any, as_of: str, expiry: str) -> None:
    ours, nse, _ = _atm_iv(replay, as_of, expiry)
    assert abs(ours - nse) < 1.5, (ours, nse)


def test_expiry_day_iv_differs_from_nse_by_its_whole_day_convention(replay: Any) -> None:
    # On expiry day NSE still uses a whole day to expiry; we use the calendar seconds left, so
    # the same premium means a higher IV: about sqrt(1 day / T) times NSE's.
    ours, nse, days = _atm_iv(replay, MORNING, EXPIRY)
    assert days == pytest.approx(0.247, abs=0.001)
    assert ours / nse == pytest.approx(math.sqrt(1 / days), rel=0.15)


def test_nse_iv_convention_is_ltp_at_ten_percent_and_whole_days(nse_snapshot_dir: Path) -> None:
    """NSE's published IV is reproduced by: LTP, r = 10%, T = whole days to expiry / 365."""
    path = nse_snapshot_dir / "NIFTY_2025-12-01_15-30-00_IST.json"
    snapshot = parse_snapshot(path, index_file(path).underlying)
    for expiry, days in ((EXPIRY, 1), ("2025-12-09", 8), ("2026-01-27", 57)):
        rows = snapshot.chains[np.datetime64(expiry).astype(object)]
        near = [r for r in rows if abs(r.strike - snapshot.last) <= 150]
        legs = [(r.strike, side == "CE", leg) for r in near for side, leg in (("CE", r.ce),
                ("PE", r.pe)) if leg and leg.ltp and leg.nse_iv]  # fmt: skip
        result = greeks.compute(
            "bsm",
            np.array([call for _, call, _ in legs]),
            snapshot.last,
            np.array([strike for strike, _, _ in legs]),
            days / 365,
            0.10,
            price=np.array([leg.ltp for _, _, leg in legs]),
        )
        ours = result.iv * 100
        published = np.array([leg.nse_iv for _, _, leg in legs])
        assert np.median(np.abs(ours - published)) < 0.05, (expiry, ours, published)


def test_the_same_snapshot_and_expiry_is_the_same_chain_object(nse_snapshot_dir: Path) -> None:
    """So the pricer's cache of a chain's Greeks serves every quote of one replayed snapshot."""
    provider = NseReplayProvider.from_settings(replay_settings(nse_snapshot_dir))
    at = datetime(2025, 12, 2, 10, 0, tzinfo=IST)
    first = provider.chain("NIFTY", None, at)
    assert provider.chain("NIFTY", first.expiry, at) is first
    later = provider.chain("NIFTY", first.expiry, datetime(2025, 12, 2, 15, 20, tzinfo=IST))
    assert later is not first and later.as_of > first.as_of
