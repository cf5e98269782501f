"""The simulated market: deterministic per (seed, underlying, instant) and realistic enough."""

from __future__ import annotations

import math
from datetime import date
from typing import Any

import pytest

from market_data_service.settings import MarketDataSettings
from tests.market_data_service.conftest import in_process_client

AS_OF = "2025-12-02T11:07:00+05:30"  # a Tuesday session, the NIFTY weekly's expiry day
MONTHLY = "2025-12-30"
# RBI's 91-day T-bill cut-off yield in force on 02-Dec-2025 (auction of 26-Nov-2025: 5.3633%),
# continuously compounded: 365/91 x ln(1 + 0.053633 x 91/365) = 0.053278.
RATE = 0.053278


def chain(client: Any, as_of: str = AS_OF, underlying: str = "NIFTY", **params: str) -> Any:
    response = client.get(f"/v1/chain/{underlying}", params={"as_of": as_of, **params})
    assert response.status_code == 200, response.text
    return response.json()


def on_tick(price: float) -> bool:
    return abs(price * 20 - round(price * 20)) < 1e-6


def test_same_instant_same_chain_in_one_app_and_across_apps(simulated: Any) -> None:
    first = chain(simulated, expiry=MONTHLY)
    assert chain(simulated, expiry=MONTHLY) == first
    with in_process_client(MarketDataSettings(market_data_seed=42)) as other:
        # a fresh process-like app asked for other instants first: no hidden state
        chain(other, as_of="2025-11-14T13:00:00+05:30")
        assert chain(other, expiry=MONTHLY) == first
    with in_process_client(MarketDataSettings(market_data_seed=7)) as reseeded:
        changed = chain(reseeded, expiry=MONTHLY)
    assert changed["spot"] != first["spot"] and changed["strikes"] != first["strikes"]


def test_the_market_moves_by_the_minute_and_rests_outside_hours(simulated: Any) -> None:
    within = chain(simulated, as_of="2025-12-02T11:07:59+05:30")
    assert within["as_of"] == "2025-12-02T05:37:00Z"  # market time: the minute
    assert within["spot"] == chain(simulated)["spot"]
    assert chain(simulated, as_of="2025-12-02T11:08:00+05:30")["spot"] != within["spot"]
    friday_close = chain(simulated, as_of="2025-12-05T15:30:00+05:30", expiry="2025-12-09")
    weekend = chain(simulated, as_of="2025-12-07T12:00:00+05:30", expiry="2025-12-09")
    monday_early = chain(simulated, as_of="2025-12-08T08:00:00+05:30", expiry="2025-12-09")
    assert (
        friday_close["as_of"] == weekend["as_of"] == monday_early["as_of"] == "2025-12-05T10:00:00Z"
    )
    assert friday_close == weekend == monday_early
    monday_open = chain(simulated, as_of="2025-12-08T09:15:00+05:30", expiry="2025-12-09")
    assert monday_open["spot"] == friday_close["spot"]  # no overnight gap: the close is the open


def test_spot_wanders_near_the_reference(simulated: Any) -> None:
    days = [f"2025-{m:02d}-{d:02d}T12:00:00+05:30" for m in (1, 4, 7, 10) for d in (6, 20)]
    spots = [simulated.get("/v1/context/NIFTY", params={"as_of": a}).json()["spot"] for a in days]
    assert all(0.85 * 26000 < s < 1.15 * 26000 for s in spots)
    assert len(set(spots)) == len(spots)


def test_quotes_sit_on_the_tick_with_bid_below_ask(simulated: Any) -> None:
    for expiry in ("2025-12-02", MONTHLY):
        for r in chain(simulated, expiry=expiry)["strikes"]:
            for leg in (r["ce"], r["pe"]):
                assert leg["ask"] >= 0.05 and leg["ltp"] >= 0.05
                assert on_tick(leg["ask"]) and on_tick(leg["ltp"])
                if leg["bid"] is not None:
                    assert on_tick(leg["bid"]) and 0.05 <= leg["bid"] < leg["ask"]


def _moneyness(body: dict[str, Any], strike: float) -> float:
    return math.log(strike / body["spot"])


def test_spread_widens_away_from_the_money(simulated: Any) -> None:
    body = chain(simulated, expiry=MONTHLY)
    otm = [(abs(_moneyness(body, r["strike"])), r["pe"] if r["strike"] < body["spot"] else r["ce"])
           for r in body["strikes"]]  # fmt: skip
    relative = [(m, (leg["ask"] - leg["bid"]) / leg["ask"]) for m, leg in otm if leg["bid"]]
    near = [s for m, s in relative if m < 0.01]
    far = [s for m, s in relative if m > 0.04]
    assert near and far and max(near) < min(far)


def test_smile_is_skewed_to_low_strikes(simulated: Any) -> None:
    body = chain(simulated, expiry=MONTHLY)

    def otm_iv(target: float) -> float:
        r = min(body["strikes"], key=lambda r: abs(r["strike"] - target))
        return (r["pe"] if r["strike"] < body["spot"] else r["ce"])["iv"]

    spot = body["spot"]
    low, atm, high = otm_iv(spot * 0.95), otm_iv(spot), otm_iv(spot * 1.05)
    assert low > atm + 1.0 and low > high
    assert 7 < atm < 25


def test_open_interest_peaks_near_the_money(simulated: Any) -> None:
    body = chain(simulated, expiry="2025-12-09")
    step = 50
    total = {r["strike"]: r["ce"]["oi"] + r["pe"]["oi"] for r in body["strikes"]}
    peak = max(total, key=total.__getitem__)
    assert abs(peak - body["spot"]) <= 6 * step
    near = [oi for k, oi in total.items() if abs(k - body["spot"]) <= 5 * step]
    wings = [oi for k, oi in total.items() if abs(k - body["spot"]) > 25 * step]
    assert sum(near) / len(near) > 3 * sum(wings) / len(wings)
    assert body["pcr"] > 0
    volume = sum(r["ce"]["volume"] + r["pe"]["volume"] for r in body["strikes"])
    later = chain(simulated, as_of="2025-12-02T14:07:00+05:30", expiry="2025-12-09")
    assert sum(r["ce"]["volume"] + r["pe"]["volume"] for r in later["strikes"]) > volume
    traded = {r["strike"]: r["ce"]["volume"] + r["pe"]["volume"] for r in later["strikes"]}
    near_volume = [v for k, v in traded.items() if abs(k - later["spot"]) <= 5 * step]
    wing_volume = [v for k, v in traded.items() if abs(k - later["spot"]) > 25 * step]
    assert sum(near_volume) / len(near_volume) > 3 * sum(wing_volume) / len(wing_volume)


def test_vix_is_near_thirty_day_atm_iv(simulated: Any) -> None:
    body = chain(simulated, expiry=MONTHLY)  # 28 days out
    atm = min(body["strikes"], key=lambda r: abs(r["strike"] - body["spot"]))
    atm_iv = (atm["ce"]["iv"] + atm["pe"]["iv"]) / 2
    assert abs(body["vix"] - atm_iv) < 3.0
    assert body["vix"] > atm_iv  # VIX carries a small premium


@pytest.mark.parametrize(
    "as_of", ["2025-12-02T09:20:00+05:30", AS_OF, "2025-12-02T15:29:00+05:30", "2026-03-13T12:00"]
)
def test_india_vix_is_one_number_for_every_underlying(simulated: Any, as_of: str) -> None:
    names = ("NIFTY", "BANKNIFTY", "FINNIFTY")
    contexts = [simulated.get(f"/v1/context/{u}", params={"as_of": as_of}).json() for u in names]
    chains = [chain(simulated, as_of=as_of, underlying=u) for u in names]
    assert len({c["vix"] for c in contexts + chains}) == 1, [c["vix"] for c in contexts]
    # derived from NIFTY: near its 30-day ATM IV, not from each underlying's own vol
    assert contexts[0]["vix"] > 5


def test_in_the_money_legs_below_the_forward_bound_get_greeks(simulated: Any) -> None:
    """The simulator quotes some ITM mids at or below the discounted forward intrinsic: no IV of
    their own, so they take their strike's out-of-the-money IV, and every leg has Greeks."""
    body = chain(simulated, as_of="2025-12-02T15:00:00+05:30", expiry="2025-12-02")
    forward, t, rate = body["forward"], body["time_to_expiry_years"], body["rate"]
    assert body["forward_source"] == "parity" and abs(forward - body["spot"]) < 5
    rows = body["strikes"]
    atm = min(range(len(rows)), key=lambda i: abs(rows[i]["strike"] - body["spot"]))
    below_bound = 0
    for r in rows[atm - 15 : atm + 16]:
        ivs = set()
        for side, sign in (("ce", 1), ("pe", -1)):
            leg = r[side]
            assert leg["greeks_error"] is None, (r["strike"], side, leg)
            assert all(leg[g] is not None for g in ("iv", "delta", "gamma", "theta", "vega"))
            assert 0 <= sign * leg["delta"] <= 1
            ivs.add(leg["iv"])
            intrinsic = math.exp(-rate * t) * max(sign * (forward - r["strike"]), 0.0)
            if intrinsic > 0 and (leg["bid"] + leg["ask"]) / 2 <= intrinsic:
                below_bound += 1
                assert leg["iv_source"] == "otm"
        if "otm" in (r["ce"]["iv_source"], r["pe"]["iv_source"]):
            assert len(ivs) == 1  # one IV per strike: the ITM leg took the OTM leg's
    assert below_bound >= 5


def test_the_chain_is_priced_at_the_t_bill_yield_in_force_and_says_so(simulated: Any) -> None:
    assert chain(simulated)["rate"] == pytest.approx(RATE, abs=1e-6)
    # 18-Sep-2025: the 17-Sep auction's 5.4976% -> 0.054602.
    september = chain(simulated, as_of="2025-09-18T11:00:00+05:30")
    assert september["rate"] == pytest.approx(0.054602, abs=1e-6)


def test_put_call_parity_holds_on_mids(simulated: Any) -> None:
    body = chain(simulated, expiry=MONTHLY)
    spot, t = body["spot"], body["time_to_expiry_years"]
    for r in body["strikes"]:
        ce, pe = r["ce"], r["pe"]
        if abs(r["strike"] - spot) > 500 or not (ce["bid"] and pe["bid"]):
            continue
        parity = spot - r["strike"] * math.exp(-RATE * t)
        mids = (ce["bid"] + ce["ask"]) / 2 - (pe["bid"] + pe["ask"]) / 2
        tolerance = (ce["ask"] - ce["bid"] + pe["ask"] - pe["bid"]) / 2 + 0.1
        assert abs(mids - parity) <= tolerance, r["strike"]


def test_greeks_on_every_near_money_leg(simulated: Any) -> None:
    body = chain(simulated, expiry=MONTHLY)
    near = [r for r in body["strikes"] if abs(r["strike"] - body["spot"]) <= 1000]
    for r in near:
        for leg, sign in ((r["ce"], 1), (r["pe"], -1)):
            assert leg["greeks_error"] is None and leg["price_source"] == "mid"
            assert 0 < sign * leg["delta"] < 1 and leg["gamma"] > 0 and leg["vega"] > 0


def _expiries(client: Any, as_of: str) -> dict[str, list[str]]:
    body = client.get("/v1/underlyings", params={"as_of": as_of}).json()
    return {u["name"]: [e["expiry"] for e in u["expiries"]] for u in body["underlyings"]}


def test_expiries_weekly_tuesdays_and_monthly_last_tuesdays(simulated: Any) -> None:
    listed = _expiries(simulated, AS_OF)
    assert listed["NIFTY"] == ["2025-12-02", "2025-12-09", "2025-12-16", "2025-12-23",
                               "2025-12-30", "2026-01-27", "2026-02-24"]  # fmt: skip
    assert listed["BANKNIFTY"] == listed["FINNIFTY"] == ["2025-12-30", "2026-01-27", "2026-02-24"]
    assert all(date.fromisoformat(e).weekday() == 1 for e in listed["NIFTY"])


def test_an_expiry_is_listed_until_its_close(simulated: Any) -> None:
    assert _expiries(simulated, "2025-12-02T15:29:00+05:30")["NIFTY"][0] == "2025-12-02"
    assert _expiries(simulated, "2025-12-02T15:30:00+05:30")["NIFTY"][0] == "2025-12-09"
    response = simulated.get(
        "/v1/chain/NIFTY", params={"as_of": "2025-12-02T15:30:00+05:30", "expiry": "2025-12-02"}
    )
    assert response.status_code == 404 and "listed: 2025-12-09" in response.json()["detail"]


def test_a_holiday_moves_the_expiry_to_the_previous_trading_day(simulated: Any) -> None:
    # Tuesday 21-Oct-2025 was a holiday (Diwali): that weekly expired on Monday 20-Oct.
    listed = _expiries(simulated, "2025-10-15T10:00:00+05:30")["NIFTY"]
    assert "2025-10-20" in listed and "2025-10-21" not in listed


def test_on_1_dec_2026_republic_day_2027_is_no_expiry_and_finnifty_lots_60(simulated: Any) -> None:
    body = simulated.get("/v1/underlyings", params={"as_of": "2026-12-01T10:00:00+05:30"}).json()
    listed = {u["name"]: {e["expiry"]: e for e in u["expiries"]} for u in body["underlyings"]}
    for name, expiries in listed.items():
        assert "2027-01-26" not in expiries, name
        january = expiries["2027-01-25"]  # Monday: the Tuesday is Republic Day
        assert january["calendar"] == "estimated", name  # NSE has not published 2027
        assert expiries["2026-12-29"]["calendar"] == "official", name
    assert {e["lot_size"] for e in listed["FINNIFTY"].values()} == {60}
    assert listed["NIFTY"]["2026-12-01"]["lot_size"] == 65
    assert listed["BANKNIFTY"]["2026-12-29"]["lot_size"] == 30


def test_lot_size_belongs_to_the_expiry(simulated: Any) -> None:
    body = simulated.get("/v1/underlyings", params={"as_of": AS_OF}).json()
    nifty = next(u for u in body["underlyings"] if u["name"] == "NIFTY")
    lots = {e["expiry"]: e["lot_size"] for e in nifty["expiries"]}
    assert lots["2025-12-30"] == 75 and lots["2026-01-27"] == 65
    assert chain(simulated, expiry="2026-01-27")["lot_size"] == 65


def test_quote_and_context_agree_with_the_chain(simulated: Any) -> None:
    body = chain(simulated, expiry=MONTHLY)
    r = min(body["strikes"], key=lambda r: abs(r["strike"] - body["spot"]))
    params = {"as_of": AS_OF, "expiry": MONTHLY, "strike": r["strike"], "option_type": "PE"}
    q = simulated.get("/v1/quote/NIFTY", params=params).json()
    for field in ("bid", "ask", "ltp", "oi", "volume", "iv", "delta", "gamma", "theta", "vega"):
        assert q[field] == r["pe"][field], field
    assert (q["spot"], q["vix"], q["pcr"], q["as_of"]) == (
        body["spot"], body["vix"], body["pcr"], body["as_of"]
    )  # fmt: skip
    assert q["lot_size"] == 75 and q["provider"] == "simulated" and q["instance"] == "primary"
    context = simulated.get("/v1/context/NIFTY", params={"as_of": AS_OF}).json()
    assert context["spot"] == body["spot"] and context["expiry"] == "2025-12-02"


@pytest.mark.parametrize("underlying", ["BANKNIFTY", "FINNIFTY"])
def test_monthly_underlyings(simulated: Any, underlying: str) -> None:
    body = chain(simulated, underlying=underlying)
    assert body["expiry"] == MONTHLY and len(body["strikes"]) == 81
    steps = {
        b["strike"] - a["strike"]
        for a, b in zip(body["strikes"], body["strikes"][1:], strict=False)
    }
    assert steps == {100.0 if underlying == "BANKNIFTY" else 50.0}
    assert body["vix"] > 5 and body["pcr"] > 0
