"""`POST /v1/greeks`: the batch calculator against the kernel, limits and validation."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

from market_data_service import greeks
from market_data_service.api.schemas import MAX_GREEKS_ITEMS

FIELDS = ("price", "delta", "gamma", "theta", "vega", "rho")


def item(**overrides: Any) -> dict[str, Any]:
    base = {"option_type": "CE", "spot": 26000.0, "strike": 26100.0, "t_years": 7 / 365,
            "rate": 0.065, "iv": 11.5}  # fmt: skip
    return {**base, **overrides}


def post(client: Any, items: list[dict[str, Any]], model: str = "bsm") -> Any:
    return client.post("/v1/greeks", json={"model": model, "items": items})


def random_items(n: int, seed: int = 1) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    spot = rng.uniform(20000, 30000, n)
    return [
        {"option_type": "CE" if c else "PE", "spot": float(s), "strike": float(k),
         "t_years": float(t), "rate": 0.065, "dividend_yield": float(q), "iv": float(v)}
        for c, s, k, t, q, v in zip(
            rng.random(n) < 0.5, spot, spot * rng.uniform(0.85, 1.15, n),
            rng.uniform(1 / 365, 1.0, n), rng.uniform(0, 0.02, n), rng.uniform(5, 60, n),
            strict=True,
        )
    ]  # fmt: skip


@pytest.mark.parametrize("model", ["bsm", "black76"])
def test_results_match_the_kernel(simulated: Any, model: str) -> None:
    items = random_items(300)
    if model == "black76":
        items = [{**i, "dividend_yield": 0.0} for i in items]
    response = post(simulated, items, model)
    assert response.status_code == 200, response.text
    out = response.json()["items"]
    expected = greeks.compute(
        model,  # type: ignore[arg-type]
        np.array([i["option_type"] == "CE" for i in items]),
        np.array([i["spot"] for i in items]),
        np.array([i["strike"] for i in items]),
        np.array([i["t_years"] for i in items]),
        0.065,
        np.array([i["dividend_yield"] for i in items]),
        iv=np.array([i["iv"] / 100 for i in items]),
    )
    assert len(out) == len(items)
    for field in FIELDS:
        np.testing.assert_allclose([o[field] for o in out], getattr(expected, field), rtol=1e-11)
    np.testing.assert_allclose([o["iv"] for o in out], [i["iv"] for i in items], rtol=1e-11)
    assert all(o["error"] is None for o in out)


def test_price_round_trips_to_iv(simulated: Any) -> None:
    priced = post(simulated, random_items(50)).json()["items"]
    by_price = [
        {**{k: v for k, v in i.items() if k != "iv"}, "price": p["price"]}
        for i, p in zip(random_items(50), priced, strict=True)
    ]
    solved = post(simulated, by_price).json()["items"]
    # far out-of-the-money short-dated items are worth ~0: their IV is undefined, with a reason
    ok = [i for i, s in enumerate(solved) if s["error"] is None]
    assert len(ok) >= 40
    assert all(solved[i]["error"] for i in range(50) if i not in ok)
    expected_iv = [random_items(50)[i]["iv"] for i in ok]
    np.testing.assert_allclose([solved[i]["iv"] for i in ok], expected_iv, rtol=1e-6)
    np.testing.assert_allclose([solved[i]["delta"] for i in ok], [priced[i]["delta"] for i in ok],
                               rtol=1e-5, atol=1e-9)  # fmt: skip


def test_an_undefined_item_does_not_spoil_the_batch(simulated: Any) -> None:
    items = [
        item(iv=None, price=120.0),
        item(strike=25000.0, iv=None, price=990.0),  # below discounted intrinsic
        item(),  # by iv, mixed into a by-price batch
        item(iv=None, price=0.0),
        item(t_years=0.0),
    ]
    out = post(simulated, [{k: v for k, v in i.items() if v is not None} for i in items]).json()
    first, below, by_iv, zero, expired = out["items"]
    assert first["error"] is None and first["price"] == 120.0 and 5 < first["iv"] < 50
    assert below == {"price": None, "iv": None, "delta": None, "gamma": None, "theta": None,
                     "vega": None, "rho": None,
                     "error": "price at or below discounted intrinsic value"}  # fmt: skip
    assert by_iv["error"] is None and by_iv["iv"] == pytest.approx(11.5)
    assert zero["error"] == "missing or zero price" and zero["iv"] is None
    assert expired["error"] == "t_years must be > 0"


def test_units_on_the_wire(simulated: Any) -> None:
    month = item(strike=26000.0, t_years=30 / 365, iv=12.0, rate=0.0)
    (atm,) = post(simulated, [month]).json()["items"]
    # ATM at zero rate: vega per vol point ~ S phi(0) sqrt(T) / 100; theta per calendar day
    # = -(vega * 100) * sigma / (2 T) / 365 = -vega * iv% / (2 * days)
    assert atm["vega"] == pytest.approx(26000 * 0.39894 * (30 / 365) ** 0.5 / 100, rel=0.01)
    assert -atm["theta"] == pytest.approx(atm["vega"] * 12.0 / (2 * 30), rel=0.01)
    assert atm["delta"] == pytest.approx(0.5, abs=0.02) and atm["rho"] > 0
    (with_rate,) = post(simulated, [{**month, "rate": 0.065}]).json()["items"]
    # rho per rate point: K T e^{-rT} N(d2) / 100
    t, sigma = 30 / 365, 0.12
    d2 = (0.065 + sigma**2 / 2) * t / (sigma * math.sqrt(t)) - sigma * math.sqrt(t)
    n_d2 = 0.5 * (1 + math.erf(d2 / math.sqrt(2)))
    assert with_rate["rho"] == pytest.approx(26000 * t * math.exp(-0.065 * t) * n_d2 / 100)


def test_ten_thousand_items_are_accepted(simulated: Any) -> None:
    items = random_items(MAX_GREEKS_ITEMS)
    response = post(simulated, items)
    assert response.status_code == 200
    out = response.json()["items"]
    assert len(out) == MAX_GREEKS_ITEMS and all(o["error"] is None for o in out[:100])
    assert out[-1]["iv"] == pytest.approx(items[-1]["iv"])


def test_more_than_ten_thousand_items_is_422(simulated: Any) -> None:
    response = post(simulated, [item()] * (MAX_GREEKS_ITEMS + 1))
    assert response.status_code == 422
    body = response.json()
    assert body["errors"][0]["field"] == "items" and "10000" in body["detail"]


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"iv": 11.5, "price": 100.0}, "items.3"),
        ({"iv": None}, "items.3"),
        ({"spot": -1.0}, "items.3.spot"),
        ({"strike": 0.0}, "items.3.strike"),
        ({"t_years": -0.1}, "items.3.t_years"),
        ({"option_type": "XX"}, "items.3.option_type"),
        ({"rate": 6.5}, "items.3.rate"),
        ({"iv": -3.0}, "items.3.iv"),
        ({"price": -1.0, "iv": None}, "items.3.price"),
        ({"spot": "abc"}, "items.3.spot"),
        ({"volatility": 12.0}, "items.3.volatility"),
    ],
)
def test_invalid_item_is_422_naming_index_and_field(
    simulated: Any, bad: dict[str, Any], field: str
) -> None:
    items = [item()] * 3 + [{k: v for k, v in item(**bad).items() if v is not None}]
    response = post(simulated, items)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["type"] == "/problems/invalid-input"
    assert body["errors"][0]["field"] == field, body
    if "price" in bad and "iv" in bad and bad["iv"] is not None:
        assert "exactly one of 'iv'" in body["detail"] and "got both" in body["detail"]


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_422(simulated: Any, token: str) -> None:
    body = json.dumps({"model": "bsm", "items": [item(), item()]}).replace("26100.0", token, 1)
    response = simulated.post(
        "/v1/greeks", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "items.0.strike"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"model": "heston", "items": [item()]}, "model"),
        ({"model": "bsm", "items": []}, "items"),
        ({"items": [item()]}, "model"),
        ({"model": "black76", "items": [item(), item(dividend_yield=0.01)]},
         "items.1.dividend_yield"),
    ],
)  # fmt: skip
def test_invalid_request_is_422(simulated: Any, payload: dict[str, Any], field: str) -> None:
    response = simulated.post("/v1/greeks", json=payload)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field


def test_malformed_json_is_422(simulated: Any) -> None:
    response = simulated.post(
        "/v1/greeks",
        content=b'{"model": "bsm", "items": [',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422 and response.json()["type"] == "/problems/invalid-input"


def test_an_oversized_body_is_refused(simulated: Any) -> None:
    from market_data_service.api.calculator import MAX_BODY_BYTES

    body = b'{"model": "bsm", "items": [' + b" " * MAX_BODY_BYTES + b"]}"
    response = simulated.post(
        "/v1/greeks", content=body, headers={"content-type": "application/json"}
    )
    # the service-wide body cap (raised to the calculator's 16 MiB for this service) answers 413
    assert response.status_code == 413 and response.json()["errors"][0]["field"] == "body"
