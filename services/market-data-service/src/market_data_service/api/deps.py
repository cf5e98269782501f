"""Dependencies of the routes: the provider built by the lifespan, settings, and `as_of`.

They are `async def` because they are quick and never block: FastAPI runs a plain `def`
dependency in its thread pool, one hand-off per dependency per request.

`as_of` convention: ISO-8601; an offset (`+05:30`, `Z`) is recommended. A naive value is read as
IST wall-clock time, the way NSE stamps its data (`2025-12-02T09:34:45` means 09:34:45 IST). A
bare date means 00:00 IST of that date. Absent: now. More than a minute in the future: 422.
An unencoded `+05:30` in a URL arrives as ` 05:30`; it is read as the offset it was meant to be.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Depends, Path, Query, Request

from market_data_service.pricing import ChainPricer
from market_data_service.providers.base import MarketDataProvider
from market_data_service.settings import MarketDataSettings
from optrade.errors import InvalidInput
from optrade.instants import INSTANT_DESCRIPTION, instant_param

FUTURE_TOLERANCE = timedelta(minutes=1)

AS_OF_DESCRIPTION = (
    f"market instant: {INSTANT_DESCRIPTION}; default now. The response's as_of is the market "
    "time of the data actually served."
)


async def get_provider(request: Request) -> MarketDataProvider:
    provider: MarketDataProvider = request.app.state.provider
    return provider


async def get_pricer(request: Request) -> ChainPricer:
    pricer: ChainPricer = request.app.state.pricer
    return pricer


async def get_market_settings(request: Request) -> MarketDataSettings:
    settings: MarketDataSettings = request.app.state.settings
    return settings


async def requested_instant(
    as_of: Annotated[
        str | None, Query(description=AS_OF_DESCRIPTION, json_schema_extra={"format": "date-time"})
    ] = None,
) -> datetime:
    """`as_of` as an aware UTC instant (naive = IST), not in the future."""
    now = datetime.now(UTC)
    if as_of is None:
        return now
    instant = instant_param("as_of", as_of)
    assert instant is not None
    if instant > now + FUTURE_TOLERANCE:
        raise InvalidInput(
            "as_of", f"{instant.isoformat()} is in the future; now is {now.isoformat()}"
        )
    return instant


async def underlying_name(
    underlying: Annotated[
        str, Path(min_length=1, max_length=32, description="index symbol, e.g. NIFTY")
    ],
) -> str:
    return underlying.strip().upper()


ProviderDep = Annotated[MarketDataProvider, Depends(get_provider)]
SettingsDep = Annotated[MarketDataSettings, Depends(get_market_settings)]
PricerDep = Annotated[ChainPricer, Depends(get_pricer)]
AsOfDep = Annotated[datetime, Depends(requested_instant)]
UnderlyingDep = Annotated[str, Depends(underlying_name)]
