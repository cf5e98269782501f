"""Entry and exit snapshots: the snapshot field group filled from a captured quote."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from optrade.clients.market_data import CapturedQuote
from optrade.domain import SNAPSHOT_FIELD_NAMES, SNAPSHOT_FIELD_TYPES, SnapshotSource
from order_service.fills import PAISA

# Snapshot fields that are not read from the quote under the same name.
_QUOTE_ATTRIBUTE = {
    "market_at": "as_of",
    "t_years": "time_to_expiry_years",
    "market_at_source": "as_of_source",
}


def _column_value(value: Any, py_type: Any) -> Any:
    if value is None:
        return None
    if py_type is Decimal:
        return Decimal(str(value)).quantize(PAISA)
    if py_type is int:
        return int(value)
    return value


def captured_snapshot(prefix: str, captured: CapturedQuote) -> dict[str, Any]:
    """Every snapshot column (`entry_*` / `exit_*`) from a quote one provider served."""
    errors = [f"skipped {reason}" for reason in captured.skipped]
    if captured.quote.greeks_error:
        errors.append(f"greeks: {captured.quote.greeks_error}")
    bookkeeping = {
        "instance": captured.quote.instance or captured.source,
        "source": captured.source,
        "error": "; ".join(errors)[:2000] or None,
        "captured_at": captured.captured_at,
    }
    snapshot: dict[str, Any] = {}
    for name, py_type in SNAPSHOT_FIELD_TYPES.items():
        if name in bookkeeping:
            value = bookkeeping[name]
        else:  # a snapshot field the quote does not carry is a bug: fail loudly in tests
            value = getattr(captured.quote, _QUOTE_ATTRIBUTE.get(name, name))
        snapshot[prefix + name] = _column_value(value, py_type)
    return snapshot


def missing_snapshot(prefix: str, reason: str, *, market_at: datetime) -> dict[str, Any]:
    """A snapshot no provider served: source `missing`, the reason, and the instant it was for
    (so a backfill can repair it); `captured_at` stays empty because nothing was captured."""
    snapshot: dict[str, Any] = {prefix + name: None for name in SNAPSHOT_FIELD_NAMES}
    snapshot[prefix + "source"] = SnapshotSource.MISSING.value
    snapshot[prefix + "error"] = reason[:2000]
    snapshot[prefix + "market_at"] = market_at
    return snapshot
