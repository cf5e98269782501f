"""Certified training data: a stored run's trades, exactly the ones it counted, as Parquet or CSV.

The run recorded the ids it counted (`RunDetails.counted_ids`, ranges of consecutive ids taken
in the snapshot it counted), so the export is those rows, by id, however many trades were closed
or backdated into the same window since. It is written by the platform's one export writer
(`optrade.export`), the training export's: the same columns (flattened `feature_*` columns,
their manifest in the Parquet footer), formula cells escaped in CSV, streamed, the row count in
`X-Total-Count`, and the run's status in `X-Quality-Run-Status`, so a failed run's trades are
never mistaken for certified ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from fastapi.responses import StreamingResponse
from sqlalchemy import Engine

from optrade.db.models import QualityRun
from optrade.errors import Conflict
from optrade.export.manifest import parquet_metadata
from optrade.export.reading import CountedTrades
from optrade.export.response import RUN_ID_HEADER, RUN_STATUS_HEADER, export_response
from optrade.export.trades import MEDIA_TYPES, ExportFormat, count_rows, plan_export, stream_export
from quality_service.schemas import RunDetails

FORMATS = (ExportFormat.PARQUET, ExportFormat.CSV)
QualityExportFormat = Literal["parquet", "csv"]
EXPORT_FORMATS = {f.value: MEDIA_TYPES[f] for f in FORMATS}


def counted_trades(run: QualityRun) -> CountedTrades:
    """The trades a run counted (409 for a run stored before runs recorded them)."""
    ranges = RunDetails.of(run.details).counted_ids
    if ranges is None:
        raise Conflict(
            f"quality run {run.id} was stored before runs recorded the trades they counted; "
            "run the check again to export its trades"
        )
    return CountedTrades(tuple((int(low), int(high)) for low, high in ranges))


def _checked(engine: Engine, run: QualityRun) -> tuple[CountedTrades, int]:
    """The run's trades and their count; 409 when one of them is gone (never hand less)."""
    selection = counted_trades(run)
    present = count_rows(engine, selection)
    if present != selection.count:
        counted = selection.count
        raise Conflict(f"quality run {run.id} counted {counted} trades; {present} exist now")
    return selection, present


def export_run(engine: Engine, run: QualityRun, fmt: QualityExportFormat) -> StreamingResponse:
    """The run's counted trades, streamed."""
    selection, present = _checked(engine, run)
    return export_response(
        engine,
        selection,
        ExportFormat(fmt),
        filename=f"quality-run-{run.id}-trades",
        total=present,
        headers={RUN_STATUS_HEADER: str(run.status), RUN_ID_HEADER: str(run.id)},
    )


def write_run(engine: Engine, run: QualityRun, path: Path) -> int:
    """The run's counted trades into a Parquet file at `path` (the end-of-day training's input),
    the same bytes the API serves; returns the rows written."""
    selection, present = _checked(engine, run)
    plan = plan_export(engine, selection)
    with path.open("wb") as sink:
        for chunk in stream_export(
            engine, plan, ExportFormat.PARQUET, metadata=parquet_metadata(plan)
        ):
            sink.write(chunk)
    return present
