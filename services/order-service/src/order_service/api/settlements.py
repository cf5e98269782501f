"""Expiry settlement on demand: `POST /v1/settlements/run` (the worker calls it at 15:30 IST)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from optrade.domain import utcnow
from optrade.security import ApiKeyDep
from order_service.api.deps import EngineDep, MarketDataDep
from order_service.schemas import SettledOut, SettlementPendingOut, SettlementRunOut
from order_service.settlement import run_settlement

router = APIRouter(prefix="/v1/settlements", tags=["settlements"])


@router.post(
    "/run",
    response_model=SettlementRunOut,
    dependencies=[ApiKeyDep],
    responses={401: {"description": "missing or wrong API key"}},
    summary="Settle open positions whose expiry has passed",
)
def settle(
    engine: EngineDep,
    market_data: MarketDataDep,
    expiry: Annotated[
        date | None, Query(description="only this expiry (YYYY-MM-DD); default every past one")
    ] = None,
) -> SettlementRunOut:
    """Close each open position on an expired contract at intrinsic value; safe to repeat."""
    run = run_settlement(engine, market_data, now=utcnow(), expiry=expiry)
    return SettlementRunOut(
        settled=[SettledOut.model_validate(s, from_attributes=True) for s in run.settled],
        pending=[SettlementPendingOut.model_validate(p) for p in run.pending],
        already_settled=run.already_settled,
    )
