"""The snapshot field groups: what a position or trade records about the market at entry and exit.

A snapshot is one group of fields that stands at entry and at exit with the prefixes `entry_` and
`exit_`. The group is declared once here (names and Python types, in the wire units of
README.md "Units on the wire"); the table columns (`optrade.db.models`), the quality checks, the
export and the carry-over from position to trade all derive from it, so a new field cannot be
forgotten.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

# name -> Python type. Units are the wire units of README.md ("Units on the wire").
SNAPSHOT_FIELD_TYPES: dict[str, Any] = {
    "delta": float,
    "gamma": float,
    "theta": float,  # premium per calendar day
    "vega": float,  # premium per 1 vol point
    "iv": float,  # percent
    "iv_source": str,  # own | otm | parity: which price the IV was solved from
    "forward": float,  # index points: the forward the IV is solved on (Black-76)
    "rate": float,  # decimal, continuous: the rate the IV is discounted at
    "t_years": float,  # calendar seconds to 15:30 IST on expiry / (365 x 86400)
    "ltp": Decimal,
    "bid": Decimal,
    "ask": Decimal,
    "oi": float,  # contracts; NSE reports fractional OI after lot changes
    "volume": int,  # contracts
    "spot": Decimal,
    "vix": float,
    "pcr": float,
    "market_at": datetime,  # market time the quote describes
    "source": str,  # SnapshotSource
    "error": str,  # why the snapshot (or part of it) is missing
    "captured_at": datetime,  # when it was captured or repaired
    # provenance: which market served it (simulated, nse-replay, recorded, openalgo, upstox),
    # through which instance (primary, fallback), and the upstream's own time when it sent one
    "provider": str,
    "instance": str,
    "upstream_at": datetime,
    "market_at_source": str,  # data | upstream | received (no upstream time: our receive time)
    # a live upstream's own IV (percent) and Greeks, beside ours
    "broker_iv": float,
    "broker_delta": float,
    "broker_gamma": float,
    "broker_theta": float,
    "broker_vega": float,
}
SNAPSHOT_FIELD_NAMES = tuple(SNAPSHOT_FIELD_TYPES)
SNAPSHOT_PREFIXES = ("entry_", "exit_")

GREEK_FIELDS = ("delta", "gamma", "theta", "vega", "iv")
CHAIN_FIELDS = ("oi", "volume", "bid", "ask")
CONTEXT_FIELDS = ("spot", "vix", "pcr")
METADATA_FIELDS = ("ml_score", "model_version", "model_hash", "features_snapshot")


def snapshot_columns(prefix: str) -> list[str]:
    """Every snapshot column name with `prefix` (`entry_` or `exit_`)."""
    return [prefix + name for name in SNAPSHOT_FIELD_NAMES]


def record_columns() -> tuple[str, ...]:
    """The columns a trade needs to be a complete training record.

    Every entry and exit Greek, chain and context field, and all of the model metadata.
    """
    snapshot = (*GREEK_FIELDS, *CHAIN_FIELDS, *CONTEXT_FIELDS)
    return (
        *(prefix + name for prefix in SNAPSHOT_PREFIXES for name in snapshot),
        *METADATA_FIELDS,
    )


RECORD_COLUMNS = record_columns()
