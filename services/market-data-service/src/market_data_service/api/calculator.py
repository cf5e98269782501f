"""`POST /v1/greeks`: the batch calculator, one pass to columns and at most two kernel calls."""

from __future__ import annotations

import numpy as np
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from market_data_service.api.schemas import MAX_GREEKS_ITEMS, GreeksRequest, GreeksResponse
from market_data_service.pricing import GreeksQuery, batch_greeks
from optrade.errors import InvalidInput

router = APIRouter(prefix="/v1", tags=["greeks"])

_NAN = float("nan")


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


@router.post(
    "/greeks",
    summary=f"Batch price, implied volatility and Greeks (up to {MAX_GREEKS_ITEMS:,} items)",
    response_model=GreeksResponse,
)
def post_greeks(request: GreeksRequest) -> JSONResponse:
    """Price each item from `iv`, or solve its IV from `price`; undefined items carry `error`."""
    items = batch_greeks(request.model, to_query(request))
    # The items are plain floats and None built from the kernel arrays: skip re-validating them.
    return JSONResponse({"items": items})
