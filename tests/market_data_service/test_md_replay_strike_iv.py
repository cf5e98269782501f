"""One IV per strike from the out-of-the-money side, on the real 02-Dec-2025 NIFTY snapshots.

Replaying the expiring chain, an in-the-money mid often sits at or below the discounted-forward
intrinsic, or its spread is so wide against its vega that it pins no IV: those legs take their
strike's out-of-the-money IV, so every strike near the money has Greeks on both legs.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from market_data_service import greeks
from market_data_service.pricing import WELL_POSED_SPREAD
from tests.market_data_service.test_md_replay import LATE, MORNING, chain

GREEKS = ("iv", "delta", "gamma", "theta", "vega", "rho")
STRIKES_EACH_SIDE = 15


def _near_the_money(body: dict[str, Any]) -> list[dict[str, Any]]:
    rows = body["strikes"]
    atm = min(range(len(rows)), key=lambda i: abs(rows[i]["strike"] - body["spot"]))
    near = rows[atm - STRIKES_EACH_SIDE : atm + STRIKES_EACH_SIDE + 1]
    assert len(near) == 2 * STRIKES_EACH_SIDE + 1
    return near


def _well_posed(leg: dict[str, Any]) -> bool:
    """The leg's own quote pins its IV: two-sided, spread / vega within WELL_POSED_SPREAD."""
    return bool(
        leg["iv_source"] == "own"
        and leg["bid"]
        and leg["ask"]
        and (leg["ask"] - leg["bid"]) / leg["vega"] <= WELL_POSED_SPREAD
    )


@pytest.mark.parametrize("as_of", [MORNING, LATE])
def test_every_strike_near_the_money_has_greeks_on_both_legs(replay: Any, as_of: str) -> None:
    body = chain(replay, as_of)
    assert body["forward_source"] == "parity"
    for row in _near_the_money(body):
        for side, sign in (("ce", 1), ("pe", -1)):
            leg = row[side]
            assert leg["greeks_error"] is None, (row["strike"], side, leg["greeks_error"])
            assert all(leg[g] is not None and math.isfinite(leg[g]) for g in GREEKS)
            assert 0 <= sign * leg["delta"] <= 1 and leg["gamma"] >= 0 and leg["vega"] >= 0
            assert leg["iv_source"] in ("own", "otm", "parity")


@pytest.mark.parametrize(("as_of", "pairs_at_least"), [(MORNING, 4), (LATE, 0)])
def test_the_two_legs_of_a_strike_agree_where_both_are_well_posed(
    replay: Any, as_of: str, pairs_at_least: int
) -> None:
    body = chain(replay, as_of)
    pairs = 0
    for row in body["strikes"]:
        ce, pe = row["ce"], row["pe"]
        if ce is None or pe is None or ce["iv"] is None or pe["iv"] is None:
            continue
        if _well_posed(ce) and _well_posed(pe):
            pairs += 1
            assert abs(ce["iv"] - pe["iv"]) <= 0.5, (row["strike"], ce["iv"], pe["iv"])
        for leg, other in ((ce, pe), (pe, ce)):
            if leg["iv_source"] != "own":  # one IV for the strike: taken from the other leg
                assert other["iv_source"] == "own" and leg["iv"] == other["iv"], row["strike"]
    assert pairs >= pairs_at_least


def test_in_the_money_legs_take_the_out_of_the_money_iv(replay: Any) -> None:
    """09:34:45, spot 26122.65: the 26400 PE (bid 275.45, ask 276.05) is deep in the money; its
    spread spans more IV than it pins, so it carries the 26400 CE's IV (2.30 / 2.35)."""
    body = chain(replay, MORNING)
    row = next(r for r in body["strikes"] if r["strike"] == 26400)
    call, put = row["ce"], row["pe"]
    assert (put["bid"], put["ask"], call["bid"], call["ask"]) == (275.45, 276.05, 2.30, 2.35)
    assert call["iv_source"] == "own" and put["iv_source"] == "otm"
    assert put["iv"] == call["iv"]
    assert put["delta"] == pytest.approx(call["delta"] - 1, abs=1e-3)  # parity: e^{-qT} ~ 1
    assert put["gamma"] == pytest.approx(call["gamma"], rel=1e-9)


def test_the_chain_carries_what_re_prices_it(replay: Any) -> None:
    """The forward, rate and time to expiry of the response reproduce each own IV: Black-76 on
    the forward, discounted at the rate, from the leg's mid."""
    body = chain(replay, MORNING)
    forward, t_years, rate = body["forward"], body["time_to_expiry_years"], body["rate"]
    assert forward == pytest.approx(26126.1, abs=0.5)  # parity near the money, not spot x e^rT
    for row in _near_the_money(body):
        for side in ("ce", "pe"):
            leg = row[side]
            if leg["iv_source"] != "own" or leg["price_source"] != "mid":
                continue
            again = greeks.compute(
                "black76", side == "ce", forward, row["strike"], t_years, rate,
                price=(leg["bid"] + leg["ask"]) / 2,
            )  # fmt: skip
            assert float(again.iv) * 100 == pytest.approx(leg["iv"], rel=1e-9)


def test_a_quote_carries_the_iv_source_and_the_forward(replay: Any) -> None:
    params = {"as_of": MORNING, "expiry": "2025-12-02", "strike": 26400, "option_type": "PE"}
    quote = replay.get("/v1/quote/NIFTY", params=params).json()
    body = chain(replay, MORNING)
    assert quote["iv_source"] == "otm" and quote["price_source"] == "mid"
    assert quote["forward"] == body["forward"] and quote["rate"] == body["rate"]
    assert quote["time_to_expiry_years"] == body["time_to_expiry_years"]


def test_the_replayed_chain_is_priced_at_the_t_bill_yield_of_its_day(replay: Any) -> None:
    """02-Dec-2025: RBI's 26-Nov-2025 auction (5.3633%), continuous 0.053278, not a flat 6.5%."""
    body = chain(replay, MORNING)
    assert body["rate"] == pytest.approx(0.053278, abs=1e-6)
