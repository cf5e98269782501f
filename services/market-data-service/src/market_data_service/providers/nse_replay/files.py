"""The replay folder's index: each file's underlying and NSE time, found without parsing it.

A JSON file is indexed by a byte scan for `records.timestamp` (IST wall clock,
`02-Dec-2025 15:13:29`) and `underlying` (else the file name's prefix); a legacy CSV by its name.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from market_data_service.providers.nse_replay.legacy_csv import legacy_csv_name
from market_data_service.providers.nse_replay.snapshot import (
    SnapshotFile,
    SnapshotFormatError,
    parse_nse_time,
)

log = logging.getLogger(__name__)

SNAPSHOT_PATTERNS = ("*.json", "*.csv")
_TIMESTAMP = re.compile(rb'"timestamp"\s*:\s*"([^"]+)"')
_UNDERLYING = re.compile(rb'"underlying"\s*:\s*"([^"]+)"')
_FILE_UNDERLYING = re.compile(r"^([A-Za-z]+)[_-]")


def index_file(path: Path) -> SnapshotFile:
    """Underlying and NSE time of one file, from a byte scan (no JSON parse) or, for a legacy
    CSV, from its name."""
    if path.suffix.lower() == ".csv":
        underlying, _, taken_at = legacy_csv_name(path)
        return SnapshotFile(underlying, taken_at, path)
    raw = path.read_bytes()
    stamp = _TIMESTAMP.search(raw)
    if stamp is None:
        raise SnapshotFormatError(f"{path.name}: no records.timestamp")
    found = _UNDERLYING.search(raw)
    by_name = _FILE_UNDERLYING.match(path.name)
    if found is not None:
        underlying = found.group(1).decode()
    elif by_name is not None:
        underlying = by_name.group(1)
    else:
        raise SnapshotFormatError(f"{path.name}: no underlying in the data or the file name")
    return SnapshotFile(underlying.upper(), parse_nse_time(stamp.group(1).decode()), path)


def index_folder(folder: Path) -> list[SnapshotFile]:
    """Every snapshot file of `folder`; a file that cannot be indexed is skipped with a warning."""
    files = []
    paths = sorted({p for pattern in SNAPSHOT_PATTERNS for p in folder.glob(pattern)})
    for path in paths:
        try:
            files.append(index_file(path))
        except (OSError, SnapshotFormatError, ValueError) as exc:
            log.warning("skipping %s: %s", path, exc)
    return files
