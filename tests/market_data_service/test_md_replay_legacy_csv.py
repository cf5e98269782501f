"""Replay of NSE's 2019 HTML option-chain page, recorded as CSV (`legacy_2019_html_csv/`): one
expiry per file, time and expiry from the file name, OI in units. Reference values from the data
folder's README (spot and PCR(OI) of each snapshot)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import SHARED_DATA
from tests.market_data_service.conftest import in_process_client, replay_settings

LEGACY_DIR = SHARED_DATA / "nse" / "legacy_2019_html_csv"
EXPIRY = "2019-09-12"


@pytest.fixture(scope="module")
def legacy() -> Iterator[Any]:
    assert LEGACY_DIR.is_dir(), f"legacy CSVs not found at {LEGACY_DIR}"
    with in_process_client(replay_settings(LEGACY_DIR)) as client:
        yield client


@pytest.mark.parametrize(
    ("as_of", "served_at", "spot", "pcr"),
    [
        ("2019-09-09T09:30:00+05:30", "2019-09-09T04:00:00Z", 10899.70, 1.0982),
        ("2019-09-11T10:00:00+05:30", "2019-09-11T04:30:00Z", 11027.10, 1.5384),
        ("2019-09-12T09:31:00+05:30", "2019-09-12T04:01:00Z", 11069.45, 1.3390),
        ("2019-09-12T15:20:00+05:30", "2019-09-12T09:45:00Z", 10974.40, 0.8186),
    ],
)
def test_each_snapshot_serves_its_spot_and_pcr(
    legacy: Any, as_of: str, served_at: str, spot: float, pcr: float
) -> None:
    response = legacy.get("/v1/chain/NIFTY", params={"as_of": as_of})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["expiry"], body["as_of"], body["spot"]) == (EXPIRY, served_at, spot)
    assert round(body["pcr"], 4) == pcr
    assert body["lot_size"] == 75 and len(body["strikes"]) == 80
    legs = [leg for r in body["strikes"] for leg in (r["ce"], r["pe"]) if leg]
    priced = [leg for leg in legs if leg["ltp"] or (leg["bid"] and leg["ask"])]
    # Every leg with a price has Greeks, or says why its IV is undefined.
    assert priced and all((leg["delta"] is not None) != bool(leg["greeks_error"]) for leg in priced)
    assert sum(leg["delta"] is not None for leg in priced) > 50


@pytest.mark.parametrize(
    "as_of",
    ["2019-09-09T09:30:00+05:30", "2019-09-11T10:00:00+05:30", "2019-09-12T09:31:00+05:30",
     "2019-09-12T15:20:00+05:30"],
)  # fmt: skip
def test_near_the_money_both_legs_have_the_strike_iv(legacy: Any, as_of: str) -> None:
    """The per-strike IV on 2019 quotes too: the forward from their parity, Greeks on both legs
    of the ten strikes either side of the money, an ITM leg without its own taking the OTM IV."""
    body = legacy.get("/v1/chain/NIFTY", params={"as_of": as_of}).json()
    assert body["forward_source"] == "parity"
    assert abs(body["forward"] / body["spot"] - 1) < 0.002
    rows = body["strikes"]
    atm = min(range(len(rows)), key=lambda i: abs(rows[i]["strike"] - body["spot"]))
    for r in rows[atm - 10 : atm + 11]:
        for side, other in (("ce", "pe"), ("pe", "ce")):
            leg = r[side]
            assert leg["iv"] is not None and leg["delta"] is not None, (r["strike"], side)
            if leg["iv_source"] != "own":
                assert leg["iv"] == r[other]["iv"] and r[other]["iv_source"] == "own"


def test_oi_is_converted_from_units_to_contracts_and_iv_kept_in_percent(legacy: Any) -> None:
    body = legacy.get("/v1/chain/NIFTY", params={"as_of": "2019-09-11T10:00:00+05:30"}).json()
    atm = next(r for r in body["strikes"] if r["strike"] == 11000)
    # The page showed 2,774,025 units of put OI at 11000: 36,987 lots of 75.
    assert atm["pe"]["oi"] == 2_774_025 / 75
    assert atm["ce"]["nse_iv"] is not None and 5 < atm["ce"]["nse_iv"] < 40
    assert atm["ce"]["iv"] == pytest.approx(atm["ce"]["nse_iv"], abs=4)


def test_a_quote_from_a_legacy_snapshot(legacy: Any) -> None:
    params = {"as_of": "2019-09-11T10:00:00+05:30", "strike": 11000, "option_type": "CE"}
    quote = legacy.get("/v1/quote/NIFTY", params=params)
    assert quote.status_code == 200, quote.text
    body = quote.json()
    assert body["expiry"] == EXPIRY and body["spot"] == 11027.10
    assert body["bid"] is not None and body["ask"] is not None and body["delta"] > 0.5


def test_before_the_first_legacy_snapshot_is_a_clear_404(legacy: Any) -> None:
    answer = legacy.get("/v1/chain/NIFTY", params={"as_of": "2019-09-06T15:00:00+05:30"})
    assert answer.status_code == 404
    assert "2019-09-09" in answer.json()["detail"]


def test_the_2019_thursday_expiry_is_listed_and_tradeable(legacy: Any) -> None:
    body = legacy.get("/v1/underlyings", params={"as_of": "2019-09-12T09:31:00+05:30"}).json()
    (nifty,) = body["underlyings"]
    assert nifty["expiries"] == [{"expiry": EXPIRY, "lot_size": 75, "calendar": "official"}]
    params = {"as_of": "2019-09-12T09:31:00+05:30", "expiry": EXPIRY, "strike": 11000,
              "option_type": "PE"}  # fmt: skip
    assert legacy.get("/v1/quote/NIFTY", params=params).status_code == 200
