"""The error contract: 404 bodies name what exists, 422 bodies name the field, never a 500."""

from __future__ import annotations

from typing import Any

import pytest

MORNING = "2025-12-02T09:34:45+05:30"
QUOTE = {"expiry": "2025-12-02", "strike": "26100", "option_type": "CE", "as_of": MORNING}


def assert_error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) >= {"type", "detail"}
    return body


@pytest.mark.parametrize("path", ["/v1/chain/SENSEX", "/v1/context/SENSEX", "/v1/quote/SENSEX"])
def test_unknown_underlying_names_those_served(replay: Any, simulated: Any, path: str) -> None:
    params = {"strike": "100", "option_type": "CE"}
    body = assert_error(replay.get(path, params=params), 404)
    assert "'SENSEX' not served; served: NIFTY" in body["detail"]
    assert body["errors"] == [{"field": "underlying", "reason": body["detail"]}]
    detail = assert_error(simulated.get(path, params=params), 404)["detail"]
    assert "served: BANKNIFTY, FINNIFTY, NIFTY" in detail


def test_underlying_is_case_insensitive(replay: Any) -> None:
    assert replay.get("/v1/quote/nifty", params=QUOTE).json()["underlying"] == "NIFTY"


def test_unknown_expiry_names_the_listed_ones(replay: Any) -> None:
    response = replay.get("/v1/quote/NIFTY", params={**QUOTE, "expiry": "2025-12-03"})
    body = assert_error(response, 404)
    assert body["errors"][0]["field"] == "expiry"
    assert body["detail"].startswith(
        "expiry 2025-12-03 not listed for NIFTY; listed: 2025-12-02, 2025-12-09, 2025-12-16"
    )


def test_unknown_strike_names_the_nearest(replay: Any) -> None:
    response = replay.get("/v1/quote/NIFTY", params={**QUOTE, "strike": "26125"})
    body = assert_error(response, 404)
    detail = body["detail"]
    assert body["errors"][0]["field"] == "strike"
    assert "strike 26125 not listed for NIFTY 2025-12-02" in detail
    assert "nearest listed: 26050, 26100, 26150, 26200" in detail
    assert "85 strikes from 23750 to 27950" in detail


def test_a_missing_leg_is_null_in_the_chain_and_404_as_a_quote(replay: Any) -> None:
    chain = replay.get("/v1/chain/NIFTY", params={"as_of": MORNING, "expiry": "2025-12-30"}).json()
    row = next(r for r in chain["strikes"] if r["strike"] == 13000)
    assert row["ce"] is None and row["pe"] is not None
    params = {**QUOTE, "expiry": "2025-12-30", "strike": "13000"}
    body = assert_error(replay.get("/v1/quote/NIFTY", params=params), 404)
    assert body["detail"].startswith(
        "option_type CE not listed for NIFTY 2025-12-30 at strike 13000"
    )
    assert body["errors"][0]["field"] == "option_type"
    assert replay.get("/v1/quote/NIFTY", params={**params, "option_type": "PE"}).status_code == 200


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"strike": "abc"}, "strike"),
        ({"strike": "-50"}, "strike"),
        ({"strike": "0"}, "strike"),
        ({"strike": "nan"}, "strike"),
        ({"strike": "inf"}, "strike"),
        ({"strike": ""}, "strike"),
        ({"option_type": "XX"}, "option_type"),
        ({"option_type": "ce "}, "option_type"),
        ({"as_of": "garbage"}, "as_of"),
        ({"as_of": "2025-12-02T25:00:00"}, "as_of"),
        ({"as_of": "0001-01-01T00:00:00+05:30"}, "as_of"),
        ({"as_of": "9999-12-31T23:59:59-05:00"}, "as_of"),
        ({"as_of": "2099-01-01T00:00:00Z"}, "as_of"),
        ({"expiry": "2025-13-01"}, "expiry"),
        ({"expiry": "tomorrow"}, "expiry"),
    ],
)
def test_malformed_query_is_422_naming_the_field(
    replay: Any, params: dict[str, str], field: str
) -> None:
    body = assert_error(replay.get("/v1/quote/NIFTY", params={**QUOTE, **params}), 422)
    assert body["type"] == "/problems/invalid-input"
    assert body["errors"][0]["field"] == field, body


@pytest.mark.parametrize("missing", ["strike", "option_type"])
def test_missing_required_parameter_is_422(replay: Any, missing: str) -> None:
    params = {k: v for k, v in QUOTE.items() if k != missing}
    body = assert_error(replay.get("/v1/quote/NIFTY", params=params), 422)
    assert body["errors"][0]["field"] == missing


def test_simulated_market_before_2000_is_422(simulated: Any) -> None:
    response = simulated.get("/v1/context/NIFTY", params={"as_of": "1999-06-01T10:00:00+05:30"})
    assert assert_error(response, 422)["errors"][0]["field"] == "as_of"


ODD_VALUES = ["", " ", "-1", "1e309", "-inf", "NaN", "0x10", "%00", "../../etc/passwd", "☃",
              "9" * 400, "2025-12-02", "2025-12-02T09:34:45", "null", "[]", "{}",
              "'; DROP"]  # fmt: skip


@pytest.mark.parametrize("value", ODD_VALUES)
def test_odd_inputs_never_give_a_500(replay: Any, simulated: Any, value: str) -> None:
    odd_params = [("/v1/quote/NIFTY", name) for name in ("strike", "option_type", "expiry")]
    odd_params += [(path, "as_of") for path in ("/v1/quote/NIFTY", "/v1/context/NIFTY")]
    for client in (replay, simulated):
        for path, name in odd_params:
            response = client.get(path, params={**QUOTE, name: value})
            assert response.status_code < 500, (path, name, value, response.text)
            assert "detail" in response.json() or response.status_code == 200
        for path in ("/v1/chain/", "/v1/quote/", "/v1/context/"):
            response = client.get(path + value.replace("/", "%2F"), params=QUOTE)
            assert response.status_code < 500, (path, value, response.text)


def test_an_unencoded_plus_in_the_offset_is_understood(replay: Any) -> None:
    # curl '...?as_of=2025-12-02T09:34:45+05:30' sends a space where the plus was
    body = replay.get("/v1/context/NIFTY?as_of=2025-12-02T09:34:45+05:30").json()
    assert body["as_of"] == "2025-12-02T04:04:45Z"
    response = replay.get("/v1/context/NIFTY?as_of=2025-12-02 09:40")
    assert response.status_code == 200 and response.json()["as_of"] == "2025-12-02T04:04:45Z"


def test_date_only_and_naive_as_of_are_ist(replay: Any) -> None:
    naive = replay.get("/v1/context/NIFTY", params={"as_of": "2025-12-02T09:34:45"}).json()
    assert naive["as_of"] == "2025-12-02T04:04:45Z"
    # a bare date is 00:00 IST: before that session's first snapshot, and the previous
    # evening's close is of another session
    dated = replay.get("/v1/context/NIFTY", params={"as_of": "2025-12-02"})
    assert dated.status_code == 404
    assert dated.json()["next_as_of"] == "2025-12-02T09:34:45+05:30"


def test_openapi_documents_units(simulated: Any) -> None:
    spec = simulated.get("/openapi.json").json()
    leg = spec["components"]["schemas"]["LegOut"]["properties"]
    assert "per calendar day" in leg["theta"]["description"]
    assert "percent" in leg["iv"]["description"]
    assert "per 1 vol point" in leg["vega"]["description"]
    assert {"/v1/underlyings", "/v1/chain/{underlying}", "/v1/quote/{underlying}",
            "/v1/context/{underlying}", "/v1/greeks"} <= set(spec["paths"])  # fmt: skip
