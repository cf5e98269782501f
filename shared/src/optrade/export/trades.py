"""Training export: one row per closed trade, streamed as CSV or Parquet without holding the result.

Columns, in order: option identity (with the trading `symbol` and `exchange` NFO), side, lots,
lot size, `units` (lots × lot size), prices, P&L, `return`, times and
`holding_seconds`; every entry and exit snapshot field (generated from `SNAPSHOT_FIELD_NAMES`, so a
new field appears here by itself); `d_<name>` = exit − entry for each Greek, IV, spot, VIX and
PCR; the model metadata; the features; the Greek attribution (`attr_*`, see `optrade.attribution`).

Features: `features_snapshot` is flattened to `feature_<path>` where a nested object's keys are
joined with dots (`{"ema": {"fast": 1}}` → `feature_ema.fast`). Dots and not underscores, because
feature names themselves use underscores (`rsi_14`) and must not collide with nesting. A key
whose values are all numbers is a float column, all booleans a boolean column, all strings a
text column; a key with mixed types or arrays is a text column of JSON values. An empty object
adds no column. The set of feature columns is found before streaming by a first, database-side
pass over the same window (a recursive walk with `jsonb_each` / `json_each`), because CSV and
Parquet both need the header first. Values that appear after that pass (a trade committed in
between) are written when they fit the planned columns and dropped when they do not.

Money is exported as float64 (Numeric(14, 2) values survive the round trip exactly at 2 decimals),
timestamps as UTC. Rows come from the database in batches of `batch_rows` (a server-side cursor
on PostgreSQL), become Arrow record batches, and are written to a sink that is drained after
every batch (CSV) or row group (Parquet), so memory is bounded by one row group.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from sqlalchemy import Column, Engine, Float, Numeric, Select, func, select
from sqlalchemy.types import TypeDecorator

from optrade.attribution import (
    ATTRIBUTION_COLUMNS,
    greek_parts,
    market_days,
    market_seconds_held,
)
from optrade.db.models import Strategy, Trade
from optrade.domain import (
    CONTEXT_FIELDS,
    GREEK_FIELDS,
    SNAPSHOT_FIELD_NAMES,
    SNAPSHOT_PREFIXES,
    Side,
    snapshot_columns,
)
from optrade.export.features import (
    FeatureCollision,
    FeatureColumn,
    feature_arrays,
    plan_features,
)
from optrade.export.reading import Selection, reader_engine, selection_conditions
from optrade.symbols import EXCHANGE, format_symbol

BATCH_ROWS = 5_000
ROW_GROUP_ROWS = 50_000
DIFF_FIELDS = (*GREEK_FIELDS, *CONTEXT_FIELDS)

IDENTITY_COLUMNS = (
    "id", "position_id", "underlying", "expiry", "strike", "option_type", "side", "lots",
    "lot_size", "entry_price", "exit_price", "entry_price_source", "exit_price_source",
    "entry_spread", "exit_spread", "pnl", "charges", "net_pnl", "margin_blocked",
    "return_on_margin",
)  # fmt: skip
TIME_COLUMNS = ("opened_at", "closed_at")
METADATA_COLUMNS = ("ml_score", "model_version", "model_hash", "mode", "off_hours", "account")
# The decision a trade belongs to: the legs of one strategy share `strategy_id` (null for a single
# order) and `strategy` is its name, read from the strategy table.
GROUP_COLUMNS = ("strategy_id", "strategy")
_STRATEGY = Strategy.__table__  # type: ignore[attr-defined]
# Read beside the exported columns to derive others, not exported under their own name.
HELPER_COLUMNS = ("market_seconds_held",)


class ExportFormat(StrEnum):
    CSV = "csv"
    PARQUET = "parquet"
    ARROW = "arrow"  # Arrow IPC stream: readable batch by batch while it arrives


MEDIA_TYPES = {
    ExportFormat.CSV: "text/csv; charset=utf-8",
    ExportFormat.PARQUET: "application/vnd.apache.parquet",
    ExportFormat.ARROW: "application/vnd.apache.arrow.stream",
}


@dataclass(frozen=True)
class ExportPlan:
    """Which trades and the columns, fixed before the first byte is streamed."""

    selection: Selection
    features: tuple[FeatureColumn, ...]
    collisions: tuple[FeatureCollision, ...] = ()

    @property
    def schema(self) -> pa.Schema:
        return export_schema(self.features)


def _table_column(name: str) -> Column[Any]:
    if name == "strategy":
        return _STRATEGY.c.name  # type: ignore[no-any-return]
    return Trade.__table__.c[name]  # type: ignore[attr-defined, no-any-return]


def _snapshot_names() -> list[str]:
    return [column for prefix in SNAPSHOT_PREFIXES for column in snapshot_columns(prefix)]


def _stored_columns() -> list[str]:
    """The trade columns the export reads, in output order (derived columns are added later)."""
    return [
        *IDENTITY_COLUMNS, *TIME_COLUMNS, "close_reason", *_snapshot_names(), *METADATA_COLUMNS,
        *GROUP_COLUMNS,
    ]  # fmt: skip


def _arrow_type(column: Column[Any]) -> pa.DataType:
    sql_type = column.type
    if isinstance(sql_type, TypeDecorator):
        sql_type = sql_type.impl_instance
    python_type = sql_type.python_type
    if issubclass(python_type, bool):
        return pa.bool_()
    if issubclass(python_type, int):
        return pa.int64()
    if issubclass(python_type, float | Decimal):
        return pa.float64()
    if issubclass(python_type, datetime):
        return pa.timestamp("us", tz="UTC")
    if issubclass(python_type, date):
        return pa.date32()
    return pa.string()


def export_schema(features: Sequence[FeatureColumn]) -> pa.Schema:
    """Every export column with its Arrow type, in order."""
    stored = {name: _arrow_type(_table_column(name)) for name in _stored_columns()}
    fields: list[tuple[str, pa.DataType]] = []
    for name, type_ in stored.items():
        fields.append((name, type_))
        if name == "option_type":
            fields.extend((("symbol", pa.string()), ("exchange", pa.string())))
        elif name == "lot_size":
            fields.append(("units", pa.int64()))
        elif name == "pnl":
            fields.append(("return", pa.float64()))
        elif name == "closed_at":
            fields.append(("holding_seconds", pa.float64()))
        elif name == "exit_" + SNAPSHOT_FIELD_NAMES[-1]:
            fields.extend((f"d_{field}", pa.float64()) for field in DIFF_FIELDS)
    fields.extend((feature.name, feature.arrow_type) for feature in features)
    fields.extend((name, pa.float64()) for name in ATTRIBUTION_COLUMNS)
    return pa.schema(fields)


def plan_export(engine: Engine, selection: Selection) -> ExportPlan:
    features, collisions = plan_features(engine, selection)
    return ExportPlan(selection=selection, features=features, collisions=collisions)


# --- second pass: rows -> Arrow record batches --------------------------------------------------


def _numbers(array: pa.Array) -> np.ndarray:
    """A float numpy view of an Arrow column; null becomes NaN."""
    return np.asarray(array.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


def _nullable(values: np.ndarray) -> pa.Array:
    return pa.array(np.where(np.isfinite(values), values, np.nan), from_pandas=True)


def _market_seconds(columns: dict[str, pa.Array]) -> np.ndarray:
    """Trading-session seconds held: the stored value, computed from the instants where null."""
    held = _numbers(columns["market_seconds_held"])
    for row in np.flatnonzero(np.isnan(held)):  # only trades stored before it was recorded
        instants = {
            name: columns[name][row].as_py()
            for name in ("opened_at", "closed_at", "entry_market_at", "exit_market_at")
        }
        held[row] = market_seconds_held(instants)
    return held


def _derived(columns: dict[str, pa.Array]) -> dict[str, pa.Array]:
    """Return, holding time, entry→exit changes and Greek attribution, computed per column."""
    number = {name: _numbers(columns[name]) for name in (
        "pnl", "entry_price", "lots", "lot_size", *(f"{p}_{f}" for p in ("entry", "exit")
                                                    for f in DIFF_FIELDS),
    )}  # fmt: skip
    held = _market_seconds(columns)
    is_buy = pc.equal(columns["side"], Side.BUY.value).to_numpy(zero_copy_only=False)
    sign = np.where(is_buy, float(Side.BUY.sign), float(Side.SELL.sign))
    units = number["lots"] * number["lot_size"]
    with np.errstate(divide="ignore", invalid="ignore"):
        derived = {
            "return": number["pnl"] / (number["entry_price"] * units),
            "holding_seconds": held,
            **{f"d_{f}": number[f"exit_{f}"] - number[f"entry_{f}"] for f in DIFF_FIELDS},
        }
        derived |= greek_parts(
            entry_delta=number["entry_delta"],
            entry_gamma=number["entry_gamma"],
            entry_theta=number["entry_theta"],
            entry_vega=number["entry_vega"],
            d_spot=derived["d_spot"],
            d_iv=derived["d_iv"],
            days_held=market_days(held),
            units=units * sign,
            pnl=number["pnl"],
        )
    return {name: _nullable(values) for name, values in derived.items()}


def _broker_names(transposed: Sequence[Sequence[Any]], stored: list[str]) -> dict[str, pa.Array]:
    """`symbol`, `exchange` and `units` of each row, as a broker names them."""
    column = {name: transposed[i] for i, name in enumerate(stored)}
    identity = zip(
        column["underlying"], column["expiry"], column["strike"], column["option_type"], strict=True
    )
    symbols = [format_symbol(u, e, Decimal(str(k)), t) for u, e, k, t in identity]
    units = [lots * size for lots, size in zip(column["lots"], column["lot_size"], strict=True)]
    return {
        "symbol": pa.array(symbols, type=pa.string()),
        "exchange": pa.array([EXCHANGE] * len(symbols), type=pa.string()),
        "units": pa.array(units, type=pa.int64()),
    }


def count_rows(engine: Engine, selection: Selection) -> int:
    """How many rows the export of `selection` has (the client's progress total)."""
    table = Trade.__table__  # type: ignore[attr-defined]
    query = select(func.count()).select_from(table).where(*selection_conditions(selection))
    with reader_engine(engine).connect() as connection:
        return int(connection.execute(query).scalar_one())


def _record_batch(
    rows: Sequence[Sequence[Any]], plan: ExportPlan, schema: pa.Schema
) -> pa.RecordBatch:
    stored = _stored_columns()
    transposed = list(zip(*rows, strict=True))
    columns = {
        name: pa.array(transposed[i], type=schema.field(name).type) for i, name in enumerate(stored)
    }
    for offset, name in enumerate(HELPER_COLUMNS, start=len(stored) + 1):
        columns[name] = pa.array(transposed[offset], type=pa.float64())
    columns |= _derived(columns) | _broker_names(transposed, stored)
    features = feature_arrays(transposed[len(stored)], plan.features)
    columns |= {f.name: array for f, array in zip(plan.features, features, strict=True)}
    return pa.record_batch([columns[name] for name in schema.names], schema=schema)


def _export_query(selection: Selection) -> Select[Any]:
    selected = []
    for name in _stored_columns():
        column = _table_column(name)
        # Money leaves the database as a double: no Decimal objects per cell, and exact at 2 dp.
        selected.append(
            column.cast(Float).label(name)
            if isinstance(column.type, Numeric)
            else column.label(name)
        )
    table = Trade.__table__  # type: ignore[attr-defined]
    trade = table.c
    return (
        select(*selected, trade.features_snapshot, *(trade[name] for name in HELPER_COLUMNS))
        .select_from(table.outerjoin(_STRATEGY, _STRATEGY.c.id == trade.strategy_id))
        .where(*selection_conditions(selection))
        .order_by(trade.closed_at, trade.id)
    )


def record_batches(
    engine: Engine, plan: ExportPlan, *, batch_rows: int = BATCH_ROWS
) -> Iterator[pa.RecordBatch]:
    """The export rows as Arrow record batches of at most `batch_rows`, streamed from the DB."""
    schema = plan.schema
    with reader_engine(engine).connect() as connection:
        result = connection.execution_options(stream_results=True, yield_per=batch_rows).execute(
            _export_query(plan.selection)
        )
        for rows in result.partitions():
            yield _record_batch(rows, plan, schema)


# --- writers --------------------------------------------------------------------------------------


class _DrainableSink:
    """A write-only file for the Arrow writers whose bytes are taken out as they are produced."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._position = 0
        self.closed = False

    def write(self, data: bytes | memoryview) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        self._position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._position

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def drain(self) -> bytes:
        chunk = b"".join(self._parts)
        self._parts.clear()
        return chunk


# A text cell a spreadsheet would run as a formula (OWASP's CSV-injection list).
_FORMULA_START = r"^[=+\-@\t\r]"


def escape_formulas(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Prefix `'` to text cells that begin like a formula; number columns stay numbers."""
    columns = []
    for field, column in zip(batch.schema, batch.columns, strict=True):
        if not pa.types.is_string(field.type):
            columns.append(column)
            continue
        risky = pc.match_substring_regex(column, _FORMULA_START)
        columns.append(pc.if_else(risky, pc.binary_join_element_wise("'", column, ""), column))
    return pa.record_batch(columns, schema=batch.schema)


def _csv_chunks(batches: Iterator[pa.RecordBatch], schema: pa.Schema) -> Iterator[bytes]:
    sink = _DrainableSink()
    writer = pa_csv.CSVWriter(sink, schema)
    yield sink.drain()  # the header, even when the window is empty
    for batch in batches:
        writer.write_batch(escape_formulas(batch))
        yield sink.drain()
    writer.close()
    if tail := sink.drain():
        yield tail


def _arrow_chunks(batches: Iterator[pa.RecordBatch], schema: pa.Schema) -> Iterator[bytes]:
    """An Arrow IPC stream: the schema first, then each batch as it is read (a client counts
    rows as they arrive, which a Parquet file, whose index is at its end, does not allow)."""
    sink = _DrainableSink()
    writer = pa.ipc.new_stream(sink, schema)
    yield sink.drain()
    for batch in batches:
        writer.write_batch(batch)
        yield sink.drain()
    writer.close()
    if tail := sink.drain():
        yield tail


def _parquet_chunks(
    batches: Iterator[pa.RecordBatch], schema: pa.Schema, *, row_group_rows: int
) -> Iterator[bytes]:
    sink = _DrainableSink()
    writer = pq.ParquetWriter(sink, schema, compression="zstd")
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    for batch in batches:
        pending.append(batch)
        pending_rows += batch.num_rows
        if pending_rows >= row_group_rows:
            writer.write_table(pa.Table.from_batches(pending, schema), row_group_rows)
            pending, pending_rows = [], 0
            yield sink.drain()
    if pending:
        writer.write_table(pa.Table.from_batches(pending, schema), row_group_rows)
    writer.close()
    yield sink.drain()


def stream_export(
    engine: Engine,
    plan: ExportPlan,
    export_format: ExportFormat,
    *,
    batch_rows: int = BATCH_ROWS,
    row_group_rows: int = ROW_GROUP_ROWS,
    metadata: dict[bytes, bytes] | None = None,
) -> Iterator[bytes]:
    """The export file, chunk by chunk; Parquet carries `metadata` (the manifest) in its footer."""
    batches = record_batches(engine, plan, batch_rows=batch_rows)
    if export_format is ExportFormat.CSV:
        yield from _csv_chunks(batches, plan.schema)
    elif export_format is ExportFormat.ARROW:
        yield from _arrow_chunks(batches, plan.schema)
    else:
        schema = plan.schema.with_metadata(metadata) if metadata else plan.schema
        batches = (batch.replace_schema_metadata(schema.metadata) for batch in batches)
        yield from _parquet_chunks(batches, schema, row_group_rows=row_group_rows)
