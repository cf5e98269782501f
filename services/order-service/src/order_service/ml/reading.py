"""Read-only access for long analytical reads: lives in `optrade.export.reading` (the exports
of both services read through it); re-exported here for the order service's other readers."""

from optrade.export.reading import reader_engine, trade_conditions, window_sql

__all__ = ["reader_engine", "trade_conditions", "window_sql"]
