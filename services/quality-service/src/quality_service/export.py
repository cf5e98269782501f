"""Certified training data: a stored run's trades, exactly the ones it counted, as Parquet or CSV.

The run recorded the ids it counted (`RunDetails.counted_ids`, ranges of consecutive ids taken
in the snapshot it counted), so the export is those rows, by id, however many trades were closed
or backdated into the same window since. Columns are the trade table's own, typed from the model;
`features_snapshot` is its JSON text.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import sqlalchemy as sa
from fastapi.responses import Response
from sqlalchemy import Connection, select

from optrade.db.models import QualityRun
from optrade.errors import Conflict
from quality_service.schemas import RunDetails
from quality_service.scope import TRADE, count_ids, in_ranges

ExportFormat = Literal["parquet", "csv"]
EXPORT_FORMATS = {"parquet": "application/vnd.apache.parquet", "csv": "text/csv"}
RANGES_PER_QUERY = 500


def _arrow_type(column: sa.Column) -> pa.DataType:
    kind = column.type
    if isinstance(kind, sa.Integer):
        return pa.int64()
    if isinstance(kind, sa.Numeric) and not isinstance(kind, sa.Float):
        scale = kind.scale if kind.scale is not None else 6
        return pa.decimal128(kind.precision or 38, scale)
    if isinstance(kind, sa.Float):
        return pa.float64()
    if isinstance(kind, sa.Boolean):
        return pa.bool_()
    if isinstance(kind, sa.DateTime) or "DateTime" in type(kind).__name__:
        return pa.timestamp("us", tz="UTC")
    if isinstance(kind, sa.Date):
        return pa.date32()
    return pa.string()


def trade_schema() -> pa.Schema:
    """The trade table's columns, `id` and `position_id` first."""
    first = ("id", "position_id")
    columns = [TRADE.c[name] for name in first] + [c for c in TRADE.columns if c.name not in first]
    return pa.schema([pa.field(c.name, _arrow_type(c)) for c in columns])


def _cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, Decimal | int | float | bool | datetime | date) or value is None:
        return value
    return str(value)


def _rows(conn: Connection, ranges: Sequence[Sequence[int]]) -> Iterator[list[dict[str, Any]]]:
    """The trades in `ranges`, by id, a bounded number of ranges per query."""
    for first in range(0, len(ranges), RANGES_PER_QUERY):
        chunk = ranges[first : first + RANGES_PER_QUERY]
        statement = select(TRADE).where(in_ranges(chunk)).order_by(TRADE.c.id)
        result = conn.execute(statement.execution_options(yield_per=5000)).mappings()
        for part in result.partitions():
            yield [{k: _cell(v) for k, v in row.items()} for row in part]


def run_table(conn: Connection, run: QualityRun) -> pa.Table:
    """The run's counted trades as one Arrow table (409 for a run that recorded no ids)."""
    ranges = RunDetails.of(run.details).counted_ids
    if ranges is None:
        raise Conflict(
            f"quality run {run.id} was stored before runs recorded the trades they counted; "
            "run the check again to export its trades"
        )
    schema = trade_schema()
    batches = [pa.RecordBatch.from_pylist(rows, schema=schema) for rows in _rows(conn, ranges)]
    table = pa.Table.from_batches(batches, schema=schema)
    if table.num_rows != count_ids(ranges):  # a counted trade is gone: say so, do not hand less
        raise Conflict(
            f"quality run {run.id} counted {count_ids(ranges)} trades; {table.num_rows} exist now"
        )
    return table


def export_run(conn: Connection, run: QualityRun, fmt: ExportFormat) -> Response:
    """The response: the file, its name, and the number of trades in `X-Trade-Count`."""
    table = run_table(conn, run)
    sink = io.BytesIO()
    if fmt == "parquet":
        pq.write_table(table, sink)
    else:
        pa_csv.write_csv(table, sink)
    return Response(
        sink.getvalue(),
        media_type=EXPORT_FORMATS[fmt],
        headers={
            "Content-Disposition": f'attachment; filename="quality-run-{run.id}-trades.{fmt}"',
            "X-Trade-Count": str(table.num_rows),
        },
    )
