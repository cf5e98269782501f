"""The training export: an Arrow IPC stream read batch by batch into Parquet or CSV.

pyarrow (extra `arrow`) or pandas (extra `pandas`) are needed only here, imported on use.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

FORMATS = ("parquet", "csv")


@dataclass
class ExportProgress:
    """Rows written so far of the total the server counted when the export started."""

    rows: int
    total: int
    path: str


def _pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.csv
        import pyarrow.ipc
        import pyarrow.parquet
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the export needs pyarrow: pip install 'optrade-client[arrow]' (or [pandas])"
        ) from exc
    return pyarrow


class _ChunkReader(io.RawIOBase):
    """A readable file over an iterator of byte chunks (the HTTP body as it arrives)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks: Iterator[bytes] = iter(chunks)
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer:
            try:
                self._buffer = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


def arrow_table(content: bytes) -> Any:
    """A pyarrow.Table from a whole Arrow IPC stream."""
    pa = _pyarrow()
    return pa.ipc.open_stream(pa.py_buffer(content)).read_all()


def write_stream(
    chunks: Iterable[bytes],
    path: str,
    file_format: str,
    total: int,
    progress: Callable[[ExportProgress], None] | None = None,
) -> ExportProgress:
    """Write the Arrow stream's batches to `path` as they arrive, reporting each batch."""
    if file_format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {file_format!r}")
    pa = _pyarrow()
    reader = pa.ipc.open_stream(io.BufferedReader(_ChunkReader(chunks), 1 << 16))
    done = ExportProgress(0, total, path)
    if file_format == "parquet":
        writer: Any = pa.parquet.ParquetWriter(path, reader.schema, compression="zstd")
    else:
        writer = pa.csv.CSVWriter(path, reader.schema)
    with writer:
        if progress:
            progress(done)
        for batch in reader:
            writer.write_batch(batch)
            done.rows += batch.num_rows
            done.total = max(done.total, done.rows)
            if progress:
                progress(done)
    return done
