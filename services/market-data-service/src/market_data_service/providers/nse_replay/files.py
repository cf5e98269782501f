"""The replay folder's index: each file's underlying and NSE time, found without parsing it.

The folder is searched recursively for `*.json`, `*.json.gz` and the legacy `*.csv`. Each file's
NSE time comes, cheapest first, from:
- the folder's `index.csv` (columns `file`, a path relative to that folder, and
  `nse_timestamp_ist`, IST wall clock `2025-11-13T10:00:15`): no snapshot file is opened;
- a legacy CSV's name (`NIFTY_exp2019-09-12_2019-09-09_09-30_IST.csv`);
- otherwise a byte scan of the JSON for `records.timestamp` (`13-Nov-2025 10:00:15`), read in
  chunks (a gzip file decompressed as it is read) and stopped at the first match: NSE writes it
  after `records.data`, about nine tenths into the file, so the scan is bounded by the file but
  never a JSON parse.
The underlying is the file name's prefix (`NIFTY_...`), else the first `"underlying"` in the
data's head. A file that cannot be indexed is skipped with a warning.
"""

from __future__ import annotations

import csv
import gzip
import logging
import re
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from market_data_service.providers.nse_replay.legacy_csv import legacy_csv_name
from market_data_service.providers.nse_replay.snapshot import (
    SnapshotFile,
    SnapshotFormatError,
    parse_nse_time,
)
from optrade.calendar import IST

log = logging.getLogger(__name__)

INDEX_CSV = "index.csv"
SNAPSHOT_SUFFIXES = (".json", ".json.gz", ".csv")
SCAN_CHUNK = 256 * 1024
UNDERLYING_HEAD = 64 * 1024  # the first leg (and its "underlying") is within the first few KB
_TIMESTAMP = re.compile(rb'"timestamp"\s*:\s*"([^"]+)"')
_UNDERLYING = re.compile(rb'"underlying"\s*:\s*"([^"]+)"')
_FILE_UNDERLYING = re.compile(r"^([A-Za-z]+)[_-]")
_OVERLAP = 128  # bytes kept between chunks so a match split across two is still found


def is_snapshot_name(path: Path) -> bool:
    """A file the replay reads: `*.json`, `*.json.gz`, or a CSV other than `index.csv`."""
    name = path.name.lower()
    return name != INDEX_CSV and name.endswith(SNAPSHOT_SUFFIXES)


def open_snapshot(path: Path) -> Iterator[bytes]:
    """The file's bytes in chunks, decompressed when it is gzip (`*.gz`)."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as handle:
        while chunk := handle.read(SCAN_CHUNK):
            yield chunk


def read_snapshot(path: Path) -> bytes:
    """The whole file, decompressed when it is gzip."""
    return b"".join(open_snapshot(path))


def _scan(path: Path, pattern: re.Pattern[bytes], limit: int | None = None) -> str | None:
    """The first match of `pattern` in the file, reading no further than needed (or `limit`)."""
    tail, read = b"", 0
    for chunk in open_snapshot(path):
        window = tail + chunk
        found = pattern.search(window)
        if found is not None:
            return found.group(1).decode()
        tail, read = window[-_OVERLAP:], read + len(chunk)
        if limit is not None and read >= limit:
            return None
    return None


def _underlying(path: Path) -> str:
    by_name = _FILE_UNDERLYING.match(path.name)
    if by_name is not None:
        return by_name.group(1).upper()
    found = _scan(path, _UNDERLYING, UNDERLYING_HEAD)
    if found is None:
        raise SnapshotFormatError(f"{path.name}: no underlying in the data or the file name")
    return found.upper()


def index_file(path: Path) -> SnapshotFile:
    """Underlying and NSE time of one file, from its name or a byte scan (no JSON parse)."""
    if path.suffix.lower() == ".csv":
        underlying, _, taken_at = legacy_csv_name(path)
        return SnapshotFile(underlying, taken_at, path)
    stamp = _scan(path, _TIMESTAMP)
    if stamp is None:
        raise SnapshotFormatError(f"{path.name}: no records.timestamp")
    return SnapshotFile(_underlying(path), parse_nse_time(stamp), path)


def read_index_csv(folder: Path) -> dict[Path, datetime]:
    """`index.csv` of `folder`: each listed file that exists and its NSE time (UTC)."""
    listed: dict[Path, datetime] = {}
    with (folder / INDEX_CSV).open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            name, wall = (row.get("file") or "").strip(), (row.get("nse_timestamp_ist") or "")
            path = folder / name
            try:
                taken_at = datetime.fromisoformat(wall.strip()).replace(tzinfo=IST)
            except ValueError:
                log.warning("%s: %s has no valid nse_timestamp_ist %r", folder / INDEX_CSV, name,
                            wall)  # fmt: skip
                continue
            if name and path.is_file():
                listed[path] = taken_at.astimezone(UTC)
    return listed


def _indexed_times(folder: Path) -> dict[Path, datetime]:
    """Every `index.csv` under `folder`, merged (a nested one names the files below it)."""
    times: dict[Path, datetime] = {}
    for index in sorted(folder.rglob(INDEX_CSV), key=lambda p: len(p.parts)):
        try:
            times |= read_index_csv(index.parent)
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            log.warning("ignoring %s: %s", index, exc)
    return times


def index_folder(folder: Path) -> list[SnapshotFile]:
    """Every snapshot file under `folder` (recursively); unreadable ones are skipped."""
    listed = _indexed_times(folder)
    files = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and is_snapshot_name(p)):
        try:
            taken_at = listed.get(path)
            if taken_at is not None and path.suffix.lower() != ".csv":
                files.append(SnapshotFile(_underlying(path), taken_at, path))
            else:
                files.append(index_file(path))
        except (OSError, EOFError, zlib.error, SnapshotFormatError, ValueError) as exc:
            log.warning("skipping %s: %s", path, exc)
    return files
