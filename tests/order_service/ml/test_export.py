"""Training export: columns, values and round trips through pandas and pyarrow, CSV and Parquet."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, delete, select

from optrade.attribution import ATTRIBUTION_COLUMNS, attribution
from optrade.db.models import SNAPSHOT_FIELDS, Position, Trade
from optrade.domain import GREEK_FIELDS, TradeWindow
from optrade.export.features import FeatureColumn, feature_columns, flatten_features
from optrade.export.trades import ExportFormat, plan_export, stream_export
from tests.support.factories import (
    OPENED_AT,
    insert_trades,
    missing_snapshot,
    random_trades,
    snapshot,
    trade_values,
)

FEATURES = {
    "rsi_14": 55.5,
    "macd": {"fast": 1.5, "slow": -0.5, "deep": {"x": 2}},
    "regime": "trend",
    "gap_up": True,
    "mixed": 3,
    "tags": ["a", "b"],
    "empty": {},
}
DAY = timedelta(days=1)


@pytest.fixture(scope="module")
def trades(engine: Engine) -> Iterator[dict[str, dict[str, Any]]]:
    """Four trades on consecutive days; the last one falls outside the window the tests use."""
    stored = {
        "buy": trade_values(
            lots=2,
            exit=snapshot("exit_", OPENED_AT + timedelta(hours=2), spot=Decimal("26040"), iv=15.0),
            features_snapshot=FEATURES,
        ),
        "sell": trade_values(
            side="SELL",
            opened_at=OPENED_AT + DAY,
            exit_price="90.00",
            model_version="v2",
            model_hash="h2",
            exit=missing_snapshot("exit_", OPENED_AT + DAY, "all providers: down"),
            features_snapshot={"rsi_14": 40, "mixed": "high"},
        ),
        "unversioned": trade_values(
            opened_at=OPENED_AT + 2 * DAY,
            model_version=None,
            model_hash=None,
            features_snapshot=None,
        ),
        "later": trade_values(opened_at=OPENED_AT + 10 * DAY, features_snapshot={"late_only": 1}),
    }
    ids = insert_trades(engine, stored.values())
    for values, trade_id in zip(stored.values(), ids, strict=True):
        values["id"] = trade_id
    yield stored
    with engine.begin() as connection:
        connection.execute(delete(Trade))
        connection.execute(delete(Position))


WINDOW = TradeWindow(start=OPENED_AT, end=OPENED_AT + 5 * DAY)


def export_frame(engine: Engine, fmt: ExportFormat, window: TradeWindow = WINDOW) -> pd.DataFrame:
    data = b"".join(stream_export(engine, plan_export(engine, window), fmt))
    if fmt is ExportFormat.CSV:
        return pd.read_csv(io.BytesIO(data), parse_dates=["opened_at", "closed_at"])
    if fmt is ExportFormat.ARROW:
        return pa.ipc.open_stream(data).read_all().to_pandas()
    return pq.read_table(io.BytesIO(data)).to_pandas()


def test_feature_columns_are_found_by_the_database(engine: Engine, trades: Any) -> None:
    assert feature_columns(engine, WINDOW) == (
        FeatureColumn("gap_up", "boolean"),
        FeatureColumn("macd.deep.x", "number"),
        FeatureColumn("macd.fast", "number"),
        FeatureColumn("macd.slow", "number"),
        FeatureColumn("mixed", "json"),
        FeatureColumn("regime", "string"),
        FeatureColumn("rsi_14", "number"),
        FeatureColumn("tags", "json"),
    )


def test_flatten_features_joins_nested_keys_with_dots() -> None:
    assert flatten_features({"a": {"b": {"c": 1}, "d": []}, "e": {}, "f": None}) == {
        "a.b.c": 1,
        "a.d": [],
        "f": None,
    }
    assert flatten_features(None) == {} and flatten_features([1]) == {}


@pytest.mark.parametrize("fmt", list(ExportFormat))
def test_columns_cover_identity_snapshots_changes_metadata_features_attribution(
    engine: Engine, trades: Any, fmt: ExportFormat
) -> None:
    frame = export_frame(engine, fmt)
    columns = list(frame.columns)
    for name in ("id", "underlying", "expiry", "strike", "option_type", "side", "lots", "lot_size",
                 "entry_price", "exit_price", "pnl", "return", "holding_seconds", "ml_score",
                 "model_version", "model_hash"):  # fmt: skip
        assert name in columns, name
    for field in SNAPSHOT_FIELDS:
        assert f"entry_{field}" in columns and f"exit_{field}" in columns, field
    for field in (*GREEK_FIELDS, "spot", "vix", "pcr"):
        assert f"d_{field}" in columns, field
    features = [c for c in columns if c.startswith("feature_")]
    assert features == [f"feature_{f.path}" for f in feature_columns(engine, WINDOW)]
    assert columns[-len(ATTRIBUTION_COLUMNS) :] == list(ATTRIBUTION_COLUMNS)
    assert "features_snapshot" not in columns and "feature_late_only" not in columns


@pytest.mark.parametrize("fmt", list(ExportFormat))
def test_values_round_trip(engine: Engine, trades: Any, fmt: ExportFormat) -> None:
    frame = export_frame(engine, fmt).set_index("id")
    assert list(frame.index) == [trades[k]["id"] for k in ("buy", "sell", "unversioned")]
    buy, sell = frame.loc[trades["buy"]["id"]], frame.loc[trades["sell"]["id"]]

    assert (buy["side"], buy["lots"], buy["lot_size"]) == ("BUY", 2, 75)
    assert buy["strike"] == 26000 and buy["entry_price"] == 100.0 and buy["exit_price"] == 110.0
    assert buy["pnl"] == 1500.0
    assert buy["return"] == pytest.approx(1500 / (100 * 2 * 75))
    assert buy["holding_seconds"] == 7200
    assert buy["closed_at"] == pd.Timestamp(trades["buy"]["closed_at"])
    assert buy["d_spot"] == pytest.approx(40) and buy["d_iv"] == pytest.approx(1)
    assert buy["d_delta"] == 0
    assert buy["entry_source"] == "primary" and buy["exit_source"] == "primary"
    assert (buy["ml_score"], buy["model_version"], buy["model_hash"]) == (0.7, "v1", "h1")
    assert buy["feature_macd.fast"] == 1.5 and buy["feature_macd.deep.x"] == 2
    assert buy["feature_regime"] == "trend" and bool(buy["feature_gap_up"]) is True
    assert buy["feature_tags"] == '["a", "b"]' and str(buy["feature_mixed"]) == "3"

    assert sell["pnl"] == 750.0 and sell["return"] == pytest.approx(0.1)  # sold 100, bought 90
    assert sell["exit_source"] == "missing" and sell["exit_error"] == "all providers: down"
    assert pd.isna(sell["exit_delta"]) and pd.isna(sell["d_spot"])
    assert sell["feature_mixed"] == '"high"' and pd.isna(sell["feature_regime"])
    assert sell["feature_rsi_14"] == 40.0

    assert pd.isna(frame.loc[trades["unversioned"]["id"], "model_version"])


@pytest.mark.parametrize("fmt", list(ExportFormat))
def test_attribution_columns_equal_the_pure_function(
    engine: Engine, trades: Any, fmt: ExportFormat
) -> None:
    frame = export_frame(engine, fmt).set_index("id")
    with engine.connect() as connection:
        stored = connection.execute(select(Trade).where(Trade.id.in_(frame.index))).mappings()  # type: ignore[attr-defined]
        expected = {row["id"]: attribution(row) for row in stored}
    for trade_id, parts in expected.items():
        for name, value in parts.items():
            got = frame.loc[trade_id, name]
            same = pd.isna(got) if value is None else got == pytest.approx(value)
            assert same, (trade_id, name)
    assert frame.loc[trades["buy"]["id"], "attr_delta"] == pytest.approx(3000)
    assert pd.isna(frame.loc[trades["sell"]["id"], "attr_delta"])  # no exit spot


def test_filters_by_model_version_and_window(engine: Engine, trades: Any) -> None:
    only_v2 = export_frame(engine, ExportFormat.CSV, TradeWindow(model_version="v2"))
    assert list(only_v2["id"]) == [trades["sell"]["id"]]
    assert list(only_v2.columns).count("feature_rsi_14") == 1
    assert "feature_regime" not in only_v2.columns  # features of the window only
    everything = export_frame(engine, ExportFormat.PARQUET, TradeWindow())
    assert len(everything) == 4 and "feature_late_only" in everything.columns


def test_an_empty_window_gives_a_header_or_an_empty_table(engine: Engine, trades: Any) -> None:
    empty = TradeWindow(start=OPENED_AT - 3 * DAY, end=OPENED_AT - DAY)
    assert export_frame(engine, ExportFormat.CSV, empty).empty
    table = export_frame(engine, ExportFormat.PARQUET, empty)
    assert table.empty and "attr_residual" in table.columns


def test_streams_in_chunks_and_row_groups(engine: Engine, trades: Any) -> None:
    insert_trades(engine, random_trades(25, start=OPENED_AT + 20 * DAY))
    plan = plan_export(engine, TradeWindow())
    chunks = list(stream_export(engine, plan, ExportFormat.CSV, batch_rows=4))
    assert len(chunks) >= 8  # header, one chunk per batch of 4 of 29 rows
    assert len(pd.read_csv(io.BytesIO(b"".join(chunks)))) == 29
    parquet = list(
        stream_export(engine, plan, ExportFormat.PARQUET, batch_rows=4, row_group_rows=8)
    )
    file = pq.ParquetFile(io.BytesIO(b"".join(parquet)))
    assert file.metadata.num_rows == 29 and file.metadata.num_row_groups == 4
    assert len(parquet) == 4  # three full row groups flushed as they fill, then the rest + footer
