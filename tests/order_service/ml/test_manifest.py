"""The export manifest: every export column with its role, type and unit; feature-name collisions
reported; CSV cells that would run as formulas escaped (in process, the test database)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine

from optrade.domain import SNAPSHOT_FIELD_NAMES
from optrade.settings import reset_all_settings
from order_service.main import create_app
from tests.support.factories import OPENED_AT, insert_trades, trade_values
from tests.support.quotes import answer_quotes, in_process, served_client

WINDOW = {"from": OPENED_AT.isoformat(), "to": (OPENED_AT + timedelta(days=1)).isoformat()}
COLLIDING = {"a.b": 1, "a": {"b": 2}, "rsi_14": 40.0}
HOSTILE = {"note": '=HYPERLINK("http://x","y")', "who": "@admin", "neg": -3.5}


@pytest.fixture(scope="module")
def api(database_url: str, engine: Engine) -> Iterator[Any]:
    insert_trades(
        engine,
        [
            # every row names the same columns (close_reason too): one multi-row INSERT
            trade_values(features_snapshot=COLLIDING, close_reason=None,
                         charges=Decimal("63.28"), net_pnl=Decimal("686.72")),
            trade_values(features_snapshot=HOSTILE, close_reason="+cmd|' /C calc'!A0",
                         exit_price="90.00", charges=Decimal("60.00"), net_pnl=Decimal("-810.00")),
        ],
    )  # fmt: skip
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATABASE_URL", database_url)
        reset_all_settings()
        with (
            served_client(answer_quotes) as market_data,
            in_process(create_app(market_data=market_data)) as client,
        ):
            yield client


# The outcome: the trade's P&L and, for a seller, what the lots tied up (issue 22).
LABELS = ("exit_price", "pnl", "return", "net_pnl", "margin_blocked", "return_on_margin")


def expected_role(name: str) -> str:
    """The role a column must have, derived from its name alone (issue 13's rules)."""
    snapshot_fields = set(SNAPSHOT_FIELD_NAMES)
    side, _, field = name.partition("_")
    if name in ("id", "position_id"):
        return "id"
    if name in LABELS:
        return "label"
    if name.startswith("feature_"):
        return "feature"
    if name.startswith("attr_"):
        return "attribution"
    if side in ("entry", "exit") and (field in snapshot_fields or field in ("price", "spread")):
        return f"{side}_snapshot"
    if name.startswith("d_"):
        return "exit_snapshot"
    return "metadata"


def test_the_manifest_describes_the_export_column_for_column(api: Any) -> None:
    manifest = api.get("/v1/trades/export/manifest", params=WINDOW).json()
    export = api.get("/v1/trades/export", params=WINDOW)
    assert export.headers["link"].startswith("<http://testserver/v1/trades/export/manifest?")
    frame = pd.read_csv(io.BytesIO(export.content))
    names = [c["name"] for c in manifest["columns"]]
    assert names == list(frame.columns)
    roles = {c["name"]: c["role"] for c in manifest["columns"]}
    assert roles == {name: expected_role(name) for name in frame.columns}
    features = [n for n in frame.columns if expected_role(n) in ("feature", "entry_snapshot")]
    assert manifest["features"] == features
    assert "entry_price" in features and "entry_delta" in features and "feature_rsi_14" in features
    assert not any(n.startswith("exit_") for n in features)
    assert manifest["labels"] == [
        "exit_price", "pnl", "return", "net_pnl", "margin_blocked", "return_on_margin"
    ]  # fmt: skip
    units = {c["name"]: c["unit"] for c in manifest["columns"]}
    assert (units["pnl"], units["entry_iv"], units["entry_oi"]) == (
        "rupees",
        "percent",
        "contracts",
    )
    types = {c["name"]: c["type"] for c in manifest["columns"]}
    assert (types["pnl"], types["lots"], types["off_hours"]) == ("double", "int64", "bool")


def test_the_parquet_export_carries_the_same_manifest(api: Any) -> None:
    manifest = api.get("/v1/trades/export/manifest", params=WINDOW).json()
    export = api.get("/v1/trades/export", params={**WINDOW, "format": "parquet"})
    table = pq.read_table(io.BytesIO(export.content))
    carried = json.loads(table.schema.metadata[b"optrade.manifest"])
    assert carried == manifest
    assert [c["name"] for c in carried["columns"]] == table.schema.names


def test_a_feature_name_collision_is_reported_and_both_values_kept(api: Any) -> None:
    manifest = api.get("/v1/trades/export/manifest", params=WINDOW).json()
    assert manifest["collisions"] == [
        {
            "column": "feature_a.b",
            "key_paths": [["a", "b"], ["a.b"]],
            "columns": ["feature_a.b", 'feature_["a.b"]'],
        }
    ]
    frame = pd.read_csv(io.BytesIO(api.get("/v1/trades/export", params=WINDOW).content))
    first = frame.iloc[0]
    assert (first["feature_a.b"], first['feature_["a.b"]']) == (2, 1)


def test_csv_cells_that_would_run_as_formulas_are_escaped_and_numbers_are_not(api: Any) -> None:
    text = api.get("/v1/trades/export", params=WINDOW).text
    frame = pd.read_csv(io.StringIO(text))
    hostile = frame.iloc[1]
    assert hostile["feature_note"] == '\'=HYPERLINK("http://x","y")'
    assert hostile["feature_who"] == "'@admin"
    assert hostile["close_reason"] == "'+cmd|' /C calc'!A0"
    assert hostile["feature_neg"] == -3.5 and hostile["pnl"] == -750.0  # numbers stay numbers
    assert hostile["net_pnl"] == -810.0
    parquet = pq.read_table(
        io.BytesIO(api.get("/v1/trades/export", params={**WINDOW, "format": "parquet"}).content)
    )
    assert parquet.column("feature_who").to_pylist()[1] == "@admin"  # only CSV is escaped
