"""The one export writer of the platform: the training export (order service,
`GET /v1/trades/export`) and a quality run's certified export (`GET /quality/runs/{id}/trades`)
are both written here, with the same columns (flattened `feature_*` columns and their manifest),
the same escaping of formula cells in CSV, the same streaming and the same count header.

Modules: `reading` (which trades: a window or a run's counted ids; reads that never block
writers), `features` (the `feature_*` columns), `trades` (rows as Arrow batches, the CSV /
Parquet / Arrow writers), `manifest` (each column's role), `response` (the HTTP answer).
"""
