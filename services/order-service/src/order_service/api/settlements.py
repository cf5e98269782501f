"""Expiry settlement on demand: `POST /v1/settlements/run` (the order engine settles on its own
at 15:30 IST; this runs the same use case now)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from optrade.domain import utcnow
from optrade.security import ApiKeyDep
from order_service.api.deps import MarketDataDep, RepositoryDep
from order_service.application.settling import settle_expired
from order_service.schemas import SettledOut, SettlementPendingOut, SettlementRunOut

router = APIRouter(prefix="/v1/settlements", tags=["settlements"])


@router.post(
    "/run",
    response_model=SettlementRunOut,
    dependencies=[ApiKeyDep],
    responses={401: {"description": "missing or wrong API key"}},
    summary="Settle open positions whose expiry has passed",
    operation_id="runSettlement",
)
async def settle(
    repository: RepositoryDep,
    market_data: MarketDataDep,
    expiry: Annotated[
        date | None, Query(description="only this expiry (YYYY-MM-DD); default every past one")
    ] = None,
) -> SettlementRunOut:
    """Close each open position on an expired contract at intrinsic value; safe to repeat."""
    run = await settle_expired(repository, market_data, now=utcnow(), expiry=expiry)
    return SettlementRunOut(
        settled=[SettledOut.model_validate(s, from_attributes=True) for s in run.settled],
        pending=[SettlementPendingOut.model_validate(p) for p in run.pending],
        already_settled=run.already_settled,
    )
