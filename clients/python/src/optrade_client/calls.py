"""The service operations this client calls, as plain request descriptions.

Both clients (sync and async) send the same `Call`s; `OPERATIONS` names each by the services'
OpenAPI `operationId`, and a test checks method, path and parameters against the documents.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Required, TypedDict, Unpack

from optrade_client._transport import new_idempotency_key

# operationId -> (service, method, path template)
OPERATIONS: dict[str, tuple[str, str, str]] = {
    "placeOrder": ("order", "POST", "/v1/orders"),
    "getOrder": ("order", "GET", "/v1/orders/{order_id}"),
    "getOrderByClientOrderId": ("order", "GET", "/v1/orders"),
    "closePosition": ("order", "POST", "/v1/positions/{position_id}/close"),
    "getPosition": ("order", "GET", "/v1/positions/{position_id}"),
    "listPositions": ("order", "GET", "/v1/positions"),
    "listTrades": ("order", "GET", "/v1/trades"),
    "exportTrades": ("order", "GET", "/v1/trades/export"),
    "backfillSnapshots": ("order", "POST", "/v1/trades/backfill"),
    "getQuote": ("market-data", "GET", "/v1/quote/{underlying}"),
    "getChain": ("market-data", "GET", "/v1/chain/{underlying}"),
    "getQualityStatus": ("quality", "GET", "/quality/status"),
    "runQualityCheck": ("quality", "POST", "/quality/checks"),
}
# Operations other engineers add; called by path, checked when the document has them.
OPTIONAL_OPERATIONS: dict[str, tuple[str, str, str]] = {
    "getExportManifest": ("order", "GET", "/v1/trades/export/manifest"),
    "runSettlement": ("order", "POST", "/v1/settlements/run"),
    "compareModels": ("order", "GET", "/v1/models/compare"),
    "gateModel": ("order", "GET", "/v1/models/gate"),
}
MUTATING = frozenset({"placeOrder", "closePosition", "backfillSnapshots", "runQualityCheck",
                      "runSettlement"})  # fmt: skip

Instant = date | datetime | str


@dataclass(frozen=True)
class Call:
    """One request: which operation, its path values, query and JSON body."""

    operation: str
    path_values: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    body: Mapping[str, Any] | None = None
    idempotency_key: str | None = None

    @property
    def spec(self) -> tuple[str, str, str]:
        return OPERATIONS.get(self.operation) or OPTIONAL_OPERATIONS[self.operation]

    @property
    def service(self) -> str:
        return self.spec[0]

    @property
    def method(self) -> str:
        return self.spec[1]

    @property
    def path(self) -> str:
        return self.spec[2].format(**{k: str(v) for k, v in self.path_values.items()})

    def query(self) -> dict[str, str]:
        return {k: _text(v) for k, v in self.params.items() if v is not None}

    def headers(self) -> dict[str, str]:
        """`Idempotency-Key` on mutating calls: the given one, else one made for this call."""
        if self.operation not in MUTATING:
            return {}
        return {"Idempotency-Key": self.idempotency_key or new_idempotency_key()}


def _text(value: Any) -> str:
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _json(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def body_of(**fields: Any) -> dict[str, Any]:
    """A JSON body of the fields that are set."""
    return {k: _json(v) for k, v in fields.items() if v is not None}


class OrderFields(TypedDict, total=False):
    """What `open` takes: a contract (`symbol`, or its four parts), a size (`lots` or `units`)
    and the model's signal; `as_of` replays a past market instant."""

    side: Required[str]
    ml_score: Required[float]
    model_version: Required[str]
    model_hash: Required[str]
    features: Required[Mapping[str, Any]]
    symbol: str | None
    underlying: str | None
    expiry: date | str | None
    strike: float | Decimal | None
    option_type: str | None
    lots: int | None
    units: int | None
    client_order_id: str | None
    as_of: Instant | None
    idempotency_key: str | None


class CloseFields(TypedDict, total=False):
    """What `close` takes: `lots` or `units` (default: all that is open) and the exit's facts."""

    lots: int | None
    units: int | None
    exit_price: Decimal | float | str | None
    reason: str | None
    as_of: Instant | None
    idempotency_key: str | None


def place_order(**order: Unpack[OrderFields]) -> Call:
    fields: dict[str, Any] = dict(order)
    key = fields.pop("idempotency_key", None) or new_idempotency_key()
    fields["features_snapshot"] = dict(fields.pop("features"))
    return Call("placeOrder", body=body_of(**fields), idempotency_key=key)


def close_position(position_id: int, **close: Unpack[CloseFields]) -> Call:
    fields: dict[str, Any] = dict(close)
    key = fields.pop("idempotency_key", None) or new_idempotency_key()
    return Call(
        "closePosition",
        path_values={"position_id": position_id},
        body=body_of(**fields),
        idempotency_key=key,
    )


def window(
    *,
    from_: Instant | None,
    to: Instant | None,
    underlying: str | None = None,
    model_version: str | None = None,
) -> dict[str, Any]:
    return {"from": from_, "to": to, "underlying": underlying, "model_version": model_version}
