"""The ML endpoints through the order service's app, in process (a served fake market data)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine

from optrade.settings import reset_all_settings
from order_service.main import create_app
from tests.support.factories import OPENED_AT, insert_trades, missing_snapshot, trade_values
from tests.support.quotes import answer_quotes, in_process, served_client

WINDOW = {
    "from": OPENED_AT.isoformat(),
    "to": (OPENED_AT + timedelta(days=1)).isoformat(),
}


@pytest.fixture(scope="module")
def trade_ids(engine: Engine) -> list[int]:
    return insert_trades(
        engine,
        [
            trade_values(features_snapshot={"rsi_14": 61.0, "ema": {"fast": 1.0}}),
            trade_values(
                model_version=None,
                exit=missing_snapshot("exit_", OPENED_AT + timedelta(hours=2), "down"),
            ),
        ],
    )


@pytest.fixture(scope="module")
def api(database_url: str, trade_ids: list[int]) -> Iterator[Any]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATABASE_URL", database_url)
        reset_all_settings()
        with (
            served_client(answer_quotes) as market_data,
            in_process(create_app(market_data=market_data)) as client,
        ):
            yield client


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_streams_the_file(api: Any, trade_ids: list[int], fmt: str) -> None:
    response = api.get("/v1/trades/export", params={**WINDOW, "format": fmt})
    assert response.status_code == 200, response.text
    assert f'filename="trades.{fmt}"' in response.headers["content-disposition"]
    if fmt == "csv":
        assert response.headers["content-type"].startswith("text/csv")
        frame = pd.read_csv(io.BytesIO(response.content))
    else:
        assert response.headers["content-type"] == "application/vnd.apache.parquet"
        frame = pq.read_table(io.BytesIO(response.content)).to_pandas()
    assert list(frame["id"]) == trade_ids
    assert list(frame["feature_ema.fast"].fillna(-1)) == [1.0, -1]
    assert "attr_residual" in frame.columns


def test_export_filters_by_model_version(api: Any, trade_ids: list[int]) -> None:
    response = api.get("/v1/trades/export", params={"model_version": "v1"})
    assert list(pd.read_csv(io.BytesIO(response.content))["id"]) == trade_ids[:1]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"format": "xlsx"}, "format"),
        ({"from": "2025-12-02T00:00:00+00:00", "to": "2025-12-01T00:00:00+00:00"}, "to"),
        ({"from": "1 Dec 2025"}, "from"),  # not ISO-8601 (a date, naive or offset time is)
    ],
)
def test_export_rejects_bad_parameters_naming_the_field(
    api: Any, params: dict[str, str], field: str
) -> None:
    response = api.get("/v1/trades/export", params=params)
    assert response.status_code == 422
    assert field in [e["field"] for e in response.json()["errors"]]


def test_one_trade_carries_its_greek_attribution(api: Any, trade_ids: list[int]) -> None:
    trade = api.get(f"/v1/trades/{trade_ids[0]}").json()
    assert trade["id"] == trade_ids[0]  # the export route does not shadow /v1/trades/{id}
    # 1 lot × 75: Δ .5 × 40 points, ½ Γ .001 × 40², Θ −12 × market days (2 h of a 6.25 h
    # session × 365/252 calendar days per session), no IV change; pnl 750
    theta = -12 * (7200 / 22_500) * (365 / 252) * 75
    expected = {"delta": 1500.0, "gamma": 60.0, "theta": theta, "vega": 0.0}
    assert trade["attribution"] == pytest.approx(
        expected | {"explained": 1560.0 + theta, "residual": 750.0 - 1560.0 - theta}
    )
    missing_exit = api.get(f"/v1/trades/{trade_ids[1]}").json()["attribution"]
    assert missing_exit["delta"] is None and missing_exit["theta"] == pytest.approx(theta)


def test_performance_reports_each_model_and_the_unversioned(api: Any) -> None:
    response = api.get("/v1/models/performance", params=WINDOW)
    assert response.status_code == 200, response.text
    models = response.json()["models"]
    # The unversioned trade's exit snapshot is missing: left out, but counted beside.
    assert [
        (m["model_version"], m["label"], m["trades"], m["missing_exit_trades"]) for m in models
    ] == [
        ("v1", "v1", 1, 0),
        (None, "unversioned", 0, 1),
    ]
    # Money on the wire is a decimal string (README "Units on the wire"), never a float.
    assert models[0]["total_pnl"] == "750.00" and models[0]["completeness"] == 1.0
    assert (response.json()["mode"], response.json()["include"]) == ("live", [])
    included = api.get("/v1/models/performance", params={**WINDOW, "include": "client,missing"})
    assert [m["trades"] for m in included.json()["models"]] == [1, 1]
    assert included.json()["include"] == ["client", "missing"]
    replay = api.get("/v1/models/performance", params={**WINDOW, "mode": "replay"})
    assert replay.status_code == 200 and replay.json()["models"] == []


@pytest.mark.parametrize(
    ("params", "field"), [({"include": "client,bogus"}, "include"), ({"mode": "paper"}, "mode")]
)
def test_performance_refuses_unknown_include_and_mode(
    api: Any, params: dict[str, str], field: str
) -> None:
    response = api.get("/v1/models/performance", params=params)
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]


def test_backfill_needs_the_api_key(api: Any) -> None:
    response = api.post("/v1/trades/backfill")
    assert response.status_code == 401
    assert (
        api.post("/v1/trades/backfill", headers={"Authorization": "Bearer nope"}).status_code == 401
    )


def test_backfill_repairs_through_the_market_data_client(
    api: Any, api_headers: dict[str, str], trade_ids: list[int]
) -> None:
    response = api.post("/v1/trades/backfill", params={"limit": 10}, headers=api_headers)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["exit"] == {"examined": 1, "repaired": 1, "still_missing": 0, "skipped": 0}
    assert report["next_after_id"] is None
    repaired = api.get(f"/v1/trades/{trade_ids[1]}").json()
    assert repaired["exit_source"] == "backfill" and repaired["exit_delta"] == 0.41
    again = api.post("/v1/trades/backfill", headers=api_headers).json()
    assert again["exit"]["examined"] == 0
