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

from market_data_service.api.schemas import MAX_GREEKS_ITEMS, GreeksRequest, GreeksResponse
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


_REQUEST_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": _inline_refs(GreeksRequest.model_json_schema())}
        },
    }
}


def to_query(request: GreeksRequest) -> GreeksQuery:
    """Columns of the batch (iv percent -> decimal), with the model-specific checks."""
    n = len(request.items)
    rows = np.empty((n, 8), dtype=np.float64)
    black76 = request.model == "black76"
    for i, item in enumerate(request.items):
        if black76 and item.dividend_yield != 0.0:
            raise InvalidInput(
                f"items.{i}.dividend_yield",
                "black76 prices on the forward, which already carries the dividend; give 0",
            )
        rows[i] = (
            item.option_type == "CE",
            item.spot,
            item.strike,
            item.t_years,
            item.rate,
            item.dividend_yield,
            item.iv / 100.0 if item.iv is not None else _NAN,
            item.price if item.price is not None else _NAN,
        )
    columns = rows.T.copy()  # contiguous columns for the kernel
    return GreeksQuery(
        is_call=columns[0] == 1.0,
        spot=columns[1],
        strike=columns[2],
        t_years=columns[3],
        rate=columns[4],
        dividend_yield=columns[5],
        iv=columns[6],
        price=columns[7],
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
        request = GreeksRequest.model_validate_json(body)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from None
    return batch_greeks(request.model, to_query(request)).to_json()


@router.post(
    "/greeks",
    summary=f"Batch price, implied volatility and Greeks (up to {MAX_GREEKS_ITEMS:,} items)",
    response_model=GreeksResponse,
    openapi_extra=_REQUEST_BODY,
)
async def post_greeks(request: Request) -> Response:
    """Price each item from `iv`, or solve its IV from `price`; undefined items carry `error`."""
    body = await _read_body(request)
    return Response(await run_in_threadpool(price_batch, body), media_type="application/json")
