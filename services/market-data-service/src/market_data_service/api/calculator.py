"""`POST /v1/greeks`: the batch calculator.

The body is validated straight from its bytes (pydantic's JSON parser, no intermediate Python
objects), turned into columns in one pass, priced by at most two kernel calls (items by iv, items
by price), and the answer is written as JSON text column by column. The CPU work runs in the
threadpool, off the event loop. A validation error has the same 422 body as any other route.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from market_data_service.api.schemas import (
    GREEKS_REQUEST,
    MAX_GREEKS_ITEMS,
    GreeksItemIn,
    GreeksRequest,
    GreeksResponse,
)
from market_data_service.pricing import GreeksQuery, batch_greeks
from optrade.errors import InvalidInput

router = APIRouter(prefix="/v1", tags=["greeks"])

_NAN = float("nan")
MAX_BODY_BYTES = 16 * 2**20  # 10,000 items take about 1.5 MB


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON schema with its `$defs` inlined, to document a body FastAPI does not parse."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return walk(defs[ref.removeprefix("#/$defs/")])
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(value) for value in node]
        return node

    result: dict[str, Any] = walk(schema)
    return result


_BODY_SCHEMA = _inline_refs(GREEKS_REQUEST.json_schema())
_REQUEST_BODY = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": _BODY_SCHEMA}}}
}


def _column(items: list[GreeksItemIn], key: str, default: float) -> np.ndarray:
    values = (item.get(key, default) for item in items)
    return np.fromiter((default if v is None else v for v in values), np.float64, len(items))


def to_query(request: GreeksRequest) -> GreeksQuery:
    """Columns of the batch (iv percent -> decimal) and the checks that span fields."""
    items = request["items"]
    n = len(items)
    iv, price = _column(items, "iv", _NAN), _column(items, "price", _NAN)
    both_or_neither = np.isnan(iv) == np.isnan(price)
    if both_or_neither.any():
        i = int(np.argmax(both_or_neither))
        given = "neither" if np.isnan(iv[i]) else "both"
        raise InvalidInput(
            f"items.{i}", f"give exactly one of 'iv' (percent) or 'price'; got {given}"
        )
    dividend_yield = _column(items, "dividend_yield", 0.0)
    if request["model"] == "black76" and dividend_yield.any():
        i = int(np.argmax(dividend_yield != 0.0))
        raise InvalidInput(
            f"items.{i}.dividend_yield",
            "black76 prices on the forward, which already carries the dividend; give 0",
        )
    return GreeksQuery(
        is_call=np.fromiter((item["option_type"] == "CE" for item in items), np.bool_, n),
        spot=_column(items, "spot", _NAN),
        strike=_column(items, "strike", _NAN),
        t_years=_column(items, "t_years", _NAN),
        rate=_column(items, "rate", _NAN),
        dividend_yield=dividend_yield,
        iv=iv / 100.0,
        price=price,
    )


async def _read_body(request: Request) -> bytes:
    """The body, refused as soon as it outgrows `MAX_BODY_BYTES` (never buffered whole)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise InvalidInput(
                "body", f"larger than {MAX_BODY_BYTES // 2**20} MiB; send at most "
                f"{MAX_GREEKS_ITEMS:,} items per request"
            )  # fmt: skip
        chunks.append(chunk)
    return b"".join(chunks)


def price_batch(body: bytes) -> bytes:
    """Validate, price and serialise one request body."""
    try:
        request = GREEKS_REQUEST.validate_json(body)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from None
    return batch_greeks(request["model"], to_query(request)).to_json()


@router.post(
    "/greeks",
    summary=f"Batch price, implied volatility and Greeks (up to {MAX_GREEKS_ITEMS:,} items)",
    response_model=GreeksResponse,
    openapi_extra=_REQUEST_BODY,
    operation_id="computeGreeks",
)
async def post_greeks(request: Request) -> Response:
    """Price each item from `iv`, or solve its IV from `price`; undefined items carry `error`."""
    body = await _read_body(request)
    return Response(await run_in_threadpool(price_batch, body), media_type="application/json")
