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

from typing import Literal

from fastapi.responses import StreamingResponse
from sqlalchemy import Engine

from optrade.db.models import QualityRun
from optrade.errors import Conflict
from optrade.export.reading import CountedTrades
from optrade.export.response import RUN_ID_HEADER, RUN_STATUS_HEADER, export_response
from optrade.export.trades import MEDIA_TYPES, ExportFormat, count_rows
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


def export_run(engine: Engine, run: QualityRun, fmt: QualityExportFormat) -> StreamingResponse:
    """The run's counted trades, streamed; 409 when one of them is gone (never hand less)."""
    selection = counted_trades(run)
    present = count_rows(engine, selection)
    if present != selection.count:
        counted = selection.count
        raise Conflict(f"quality run {run.id} counted {counted} trades; {present} exist now")
    return export_response(
        engine,
        selection,
        ExportFormat(fmt),
        filename=f"quality-run-{run.id}-trades",
        total=present,
        headers={RUN_STATUS_HEADER: str(run.status), RUN_ID_HEADER: str(run.id)},
    )
