"""Dependencies of the routes: the provider built by the lifespan, settings, and `as_of`.

`as_of` convention: ISO-8601; an offset (`+05:30`, `Z`) is recommended. A naive value is read as
IST wall-clock time, the way NSE stamps its data (`2025-12-02T09:34:45` means 09:34:45 IST). A
bare date means 00:00 IST of that date. Absent: now. More than a minute in the future: 422.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Depends, Path, Query, Request

from market_data_service.providers.base import MarketDataProvider
from market_data_service.settings import MarketDataSettings
from optrade.calendar import IST
from optrade.errors import InvalidInput

FUTURE_TOLERANCE = timedelta(minutes=1)

AS_OF_DESCRIPTION = (
    "market instant, ISO-8601; naive values are IST wall clock (as NSE stamps its data); "
    "default now. The response's as_of is the market time of the data actually served."
)


def get_provider(request: Request) -> MarketDataProvider:
    provider: MarketDataProvider = request.app.state.provider
    return provider


def get_market_settings(request: Request) -> MarketDataSettings:
    settings: MarketDataSettings = request.app.state.settings
    return settings


def requested_instant(
    as_of: Annotated[datetime | None, Query(description=AS_OF_DESCRIPTION)] = None,
) -> datetime:
    """`as_of` as an aware UTC instant (naive = IST), not in the future."""
    now = datetime.now(UTC)
    if as_of is None:
        return now
    try:
        instant = (as_of if as_of.tzinfo else as_of.replace(tzinfo=IST)).astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise InvalidInput("as_of", f"out of range: {exc}") from exc
    if instant > now + FUTURE_TOLERANCE:
        raise InvalidInput(
            "as_of", f"{instant.isoformat()} is in the future; now is {now.isoformat()}"
        )
    return instant


def underlying_name(
    underlying: Annotated[
        str, Path(min_length=1, max_length=32, description="index symbol, e.g. NIFTY")
    ],
) -> str:
    return underlying.strip().upper()


ProviderDep = Annotated[MarketDataProvider, Depends(get_provider)]
SettingsDep = Annotated[MarketDataSettings, Depends(get_market_settings)]
AsOfDep = Annotated[datetime, Depends(requested_instant)]
UnderlyingDep = Annotated[str, Depends(underlying_name)]
