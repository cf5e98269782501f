"""The trading vocabulary: the one home of the words every layer shares.

Nothing here imports `optrade.db`, a wire schema, a client or a service (docs/architecture.md);
they all import from here.
"""

from optrade.domain.clock import (
    DAYS_PER_YEAR,
    IST,
    IST_NAME,
    MARKET_CLOSE,
    MARKET_OPEN,
    SECONDS_PER_DAY,
    SECONDS_PER_YEAR,
    SESSION_SECONDS,
    TRADING_DAYS_PER_YEAR,
    utcnow,
)
from optrade.domain.completeness import complete_record, present
from optrade.domain.snapshot import (
    CHAIN_FIELDS,
    CONTEXT_FIELDS,
    GREEK_FIELDS,
    METADATA_FIELDS,
    RECORD_COLUMNS,
    SNAPSHOT_FIELD_NAMES,
    SNAPSHOT_FIELD_TYPES,
    SNAPSHOT_PREFIXES,
    snapshot_columns,
)
from optrade.domain.vocabulary import (
    EXPIRED,
    ExitReason,
    IvSource,
    OptionType,
    OrderIntent,
    OrderStatus,
    OrderType,
    PositionStatus,
    Product,
    Side,
    SnapshotSource,
    TradeMode,
    Validity,
)
from optrade.domain.window import TradeWindow

__all__ = [
    "CHAIN_FIELDS",
    "CONTEXT_FIELDS",
    "DAYS_PER_YEAR",
    "EXPIRED",
    "ExitReason",
    "GREEK_FIELDS",
    "IST",
    "IST_NAME",
    "IvSource",
    "MARKET_CLOSE",
    "MARKET_OPEN",
    "METADATA_FIELDS",
    "RECORD_COLUMNS",
    "SECONDS_PER_DAY",
    "SECONDS_PER_YEAR",
    "SESSION_SECONDS",
    "SNAPSHOT_FIELD_NAMES",
    "SNAPSHOT_FIELD_TYPES",
    "SNAPSHOT_PREFIXES",
    "OptionType",
    "OrderIntent",
    "OrderStatus",
    "OrderType",
    "PositionStatus",
    "Product",
    "Side",
    "SnapshotSource",
    "TRADING_DAYS_PER_YEAR",
    "TradeMode",
    "Validity",
    "TradeWindow",
    "complete_record",
    "present",
    "snapshot_columns",
    "utcnow",
]
