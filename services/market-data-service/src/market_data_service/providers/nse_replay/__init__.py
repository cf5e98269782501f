"""Replay of recorded NSE option-chain snapshots, one module per concern.

- `option_chain_json`: NSE's `option-chain-indices` JSON (legacy field names and v3).
- `legacy_csv`: the 2019 HTML option-chain page saved as CSV.
- `files`: the folder index (underlying and NSE time of each file, without parsing it).
- `provider`: `NseReplayProvider`, the snapshot at or before an instant, with its caches.
"""

from market_data_service.providers.nse_replay.files import index_file, index_folder
from market_data_service.providers.nse_replay.legacy_csv import parse_legacy_csv
from market_data_service.providers.nse_replay.option_chain_json import parse_leg, parse_snapshot
from market_data_service.providers.nse_replay.provider import NseReplayProvider
from market_data_service.providers.nse_replay.snapshot import (
    Snapshot,
    SnapshotFile,
    SnapshotFormatError,
)

__all__ = [
    "NseReplayProvider",
    "Snapshot",
    "SnapshotFile",
    "SnapshotFormatError",
    "index_file",
    "index_folder",
    "parse_leg",
    "parse_legacy_csv",
    "parse_snapshot",
]
