"""`POST /v1/engine/advance`: walk the replayed market up to an instant (replay walks only when
asked; live orders are the order engine's)."""

from __future__ import annotations

from fastapi import APIRouter

from optrade.security import ApiKeyDep
from order_service.api.deps import MarketDataDep, RepositoryDep, SettingsDep
from order_service.application.walking import advance_replay
from order_service.schemas import AdvanceOut, AdvanceRequest, SettledOut

router = APIRouter(prefix="/v1/engine", tags=["engine"])


@router.post(
    "/advance",
    response_model=AdvanceOut,
    dependencies=[ApiKeyDep],
    responses={401: {"description": "missing or wrong API key"}},
    summary="Walk every recorded observation with pending replay work up to `until`",
    operation_id="advanceEngine",
)
async def advance(
    request: AdvanceRequest,
    repository: RepositoryDep,
    market_data: MarketDataDep,
    settings: SettingsDep,
) -> AdvanceOut:
    """Evaluate pending replay orders and exits on each snapshot after where each stopped, in
    time order, up to `until`; expire DAY orders at 15:30 IST; settle expired contracts."""
    walk = await advance_replay(repository, market_data, request.until, settings.square_off_time)
    done = walk.evaluation
    settled = walk.settlement.settled if walk.settlement else []
    return AdvanceOut(
        until=request.until,
        observations=walk.observations,
        filled=done.filled,
        triggered=done.triggered,
        expired=walk.expired,
        exits=done.exits,
        settled=[SettledOut.model_validate(s, from_attributes=True) for s in settled],
        unavailable=walk.unavailable,
    )
