"""Certified training data: a stored run's trades, exactly the ones it counted, as Parquet or CSV.

The run recorded the ids it counted (`RunDetails.counted_ids`, ranges of consecutive ids taken
in the snapshot it counted), so the export is those rows, by id, however many trades were closed
or backdated into the same window since. Columns are the trade table's own, typed from the model;
`features_snapshot` is its JSON text. CSV is written with the standard library; Parquet needs
pyarrow, the quality service's optional `parquet` extra, so the worker and beat image carries no
numeric stack and an image built without the extra says so instead of failing.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa
from fastapi.responses import Response
from sqlalchemy import Connection, select

from optrade.db.models import QualityRun
from optrade.errors import Conflict, Unsupported
from quality_service.schemas import RunDetails
from quality_service.scope import TRADE, count_ids, in_ranges

ExportFormat = Literal["parquet", "csv"]
EXPORT_FORMATS = {"parquet": "application/vnd.apache.parquet", "csv": "text/csv"}
RANGES_PER_QUERY = 500

if TYPE_CHECKING:
    import pyarrow as pa


class ParquetNotInstalled(Unsupported):
    """Parquet was asked of an image built without the `parquet` extra (pyarrow)."""

    type = "not_installed"


def _pyarrow() -> Any:
    try:
        import pyarrow  # noqa: PLC0415 (optional extra)
        import pyarrow.parquet  # noqa: F401, PLC0415
    except ImportError as exc:
        raise ParquetNotInstalled(
            "format=parquet needs pyarrow, the quality service's `parquet` extra, which this "
            "installation lacks; ask for format=csv or install quality-service[parquet]"
        ) from exc
    return pyarrow


def _arrow_type(arrow: Any, column: sa.Column) -> pa.DataType:
    kind = column.type
    if isinstance(kind, sa.Integer):
        return arrow.int64()
    if isinstance(kind, sa.Numeric) and not isinstance(kind, sa.Float):
        scale = kind.scale if kind.scale is not None else 6
        return arrow.decimal128(kind.precision or 38, scale)
    if isinstance(kind, sa.Float):
        return arrow.float64()
    if isinstance(kind, sa.Boolean):
        return arrow.bool_()
    if isinstance(kind, sa.DateTime) or "DateTime" in type(kind).__name__:
        return arrow.timestamp("us", tz="UTC")
    if isinstance(kind, sa.Date):
        return arrow.date32()
    return arrow.string()


def trade_columns() -> list[sa.Column]:
    """The trade table's columns, `id` and `position_id` first."""
    first = ("id", "position_id")
    return [TRADE.c[name] for name in first] + [c for c in TRADE.columns if c.name not in first]


def trade_schema() -> pa.Schema:
    """The Arrow schema of the export (needs the `parquet` extra)."""
    pa = _pyarrow()
    return pa.schema([pa.field(c.name, _arrow_type(pa, c)) for c in trade_columns()])


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


def _counted_ranges(run: QualityRun) -> list[list[int]]:
    ranges = RunDetails.of(run.details).counted_ids
    if ranges is None:
        raise Conflict(
            f"quality run {run.id} was stored before runs recorded the trades they counted; "
            "run the check again to export its trades"
        )
    return [list(r) for r in ranges]


def _check_complete(run: QualityRun, ranges: Sequence[Sequence[int]], exported: int) -> None:
    if exported != count_ids(ranges):  # a counted trade is gone: say so, do not hand less
        counted = count_ids(ranges)
        raise Conflict(f"quality run {run.id} counted {counted} trades; {exported} exist now")


def run_table(conn: Connection, run: QualityRun) -> pa.Table:
    """The run's counted trades as one Arrow table (409 for a run that recorded no ids)."""
    pa = _pyarrow()
    ranges = _counted_ranges(run)
    schema = trade_schema()
    batches = [pa.RecordBatch.from_pylist(rows, schema=schema) for rows in _rows(conn, ranges)]
    table = pa.Table.from_batches(batches, schema=schema)
    _check_complete(run, ranges, table.num_rows)
    return table


def _csv_text(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return "" if value is None else value


def run_csv(conn: Connection, run: QualityRun) -> tuple[bytes, int]:
    """The run's counted trades as CSV (header first) and how many rows it holds."""
    ranges = _counted_ranges(run)
    names = [c.name for c in trade_columns()]
    sink = io.StringIO()
    writer = csv.writer(sink, lineterminator="\n")
    writer.writerow(names)
    exported = 0
    for rows in _rows(conn, ranges):
        writer.writerows([_csv_text(row[name]) for name in names] for row in rows)
        exported += len(rows)
    _check_complete(run, ranges, exported)
    return sink.getvalue().encode(), exported


def export_run(conn: Connection, run: QualityRun, fmt: ExportFormat) -> Response:
    """The response: the file, its name, and the number of trades in `X-Trade-Count`."""
    if fmt == "parquet":
        table = run_table(conn, run)
        sink = io.BytesIO()
        _pyarrow().parquet.write_table(table, sink)
        body, exported = sink.getvalue(), table.num_rows
    else:
        body, exported = run_csv(conn, run)
    return Response(
        body,
        media_type=EXPORT_FORMATS[fmt],
        headers={
            "Content-Disposition": f'attachment; filename="quality-run-{run.id}-trades.{fmt}"',
            "X-Trade-Count": str(exported),
        },
    )
