"""Replay reads: the snapshot instants of a range, the clock a backtest walks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from market_data_service.api.deps import ProviderDep, SettingsDep
from market_data_service.api.schemas import ReplayInstantsOut
from market_data_service.providers.base import ReplayingProvider, not_found
from optrade.instants import INSTANT_DESCRIPTION, check_range, instant_param

router = APIRouter(prefix="/v1/replay", tags=["replay"])

_RANGE = f"{INSTANT_DESCRIPTION}; default: the whole replay"


@router.get(
    "/instants",
    summary="The snapshot instants of a replay range",
    responses={404: {"description": "unknown underlying, or a provider that replays nothing"}},
)
def list_instants(
    provider: ProviderDep,
    settings: SettingsDep,
    underlying: Annotated[str, Query(min_length=1, max_length=32, description="e.g. NIFTY")],
    start: Annotated[str | None, Query(alias="from", description=_RANGE)] = None,
    end: Annotated[str | None, Query(alias="to", description=f"inclusive; {_RANGE}")] = None,
) -> ReplayInstantsOut:
    """Every snapshot instant from `from` to `to`, ascending: ask `as_of` at each in turn."""
    if not isinstance(provider, ReplayingProvider):
        raise not_found(
            "underlying",
            f"the {provider.name} provider replays no recorded snapshots; ask an nse-replay "
            "market-data service",
        )
    lower = instant_param("from", start) or datetime.min.replace(tzinfo=UTC)
    upper = instant_param("to", end) or datetime.max.replace(tzinfo=UTC)
    check_range(lower, upper)
    name = underlying.strip().upper()
    return ReplayInstantsOut(
        underlying=name,
        start=lower,
        end=upper,
        instants=list(provider.instants(name, lower, upper)),
        max_age_seconds=settings.replay_max_age.total_seconds(),
        provider=provider.name,
    )
