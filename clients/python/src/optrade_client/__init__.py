"""Python client for Optrade: paper trades, market data, data quality and the ML export."""

from optrade_client._transport import RetryPolicy
from optrade_client.client import AsyncOptrade, Optrade
from optrade_client.errors import (
    ApiError,
    Conflict,
    FieldError,
    InvalidInput,
    NotFound,
    OptradeError,
    ServerError,
    ServerUnreachable,
    Unauthorized,
    Unavailable,
)
from optrade_client.export import ExportProgress
from optrade_client.models import (
    Chain,
    CloseResult,
    Order,
    Position,
    QualityRun,
    QualityStatus,
    Quote,
    Trade,
)

__all__ = [
    "ApiError",
    "AsyncOptrade",
    "Chain",
    "CloseResult",
    "Conflict",
    "ExportProgress",
    "FieldError",
    "InvalidInput",
    "NotFound",
    "Optrade",
    "OptradeError",
    "Order",
    "Position",
    "QualityRun",
    "QualityStatus",
    "Quote",
    "RetryPolicy",
    "ServerError",
    "ServerUnreachable",
    "Trade",
    "Unauthorized",
    "Unavailable",
]
__version__ = "0.1.0"
