"""The HTTP answer of an export, the same for the training export (order service) and a quality
run's certified export: streamed, its row count in `X-Total-Count`, and, for a run, the run's
status in `X-Quality-Run-Status` (a failed run's trades are not certified)."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi.responses import StreamingResponse
from sqlalchemy import Engine

from optrade.export.manifest import parquet_metadata
from optrade.export.reading import Selection
from optrade.export.trades import MEDIA_TYPES, ExportFormat, count_rows, plan_export, stream_export

TOTAL_COUNT_HEADER = "X-Total-Count"
RUN_STATUS_HEADER = "X-Quality-Run-Status"
RUN_ID_HEADER = "X-Quality-Run-Id"


def export_response(
    engine: Engine,
    selection: Selection,
    export_format: ExportFormat,
    *,
    filename: str,
    total: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> StreamingResponse:
    """The export of `selection` as a streamed file: columns planned first (so the CSV header
    and the Parquet schema are known), rows batch by batch, formula cells escaped in CSV, the
    manifest in the Parquet footer; `total` is the count when the caller has it already."""
    plan = plan_export(engine, selection)
    rows = count_rows(engine, selection) if total is None else total
    return StreamingResponse(
        stream_export(engine, plan, export_format, metadata=parquet_metadata(plan)),
        media_type=MEDIA_TYPES[export_format],
        headers={
            "Content-Disposition": f'attachment; filename="{filename}.{export_format.value}"',
            TOTAL_COUNT_HEADER: str(rows),
            **(headers or {}),
        },
    )
