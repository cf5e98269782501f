"""Market reads: underlyings, chain, quote, context; the provider and `pricing` do the work."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from market_data_service.api.deps import (
    AsOfDep,
    PricerDep,
    ProviderDep,
    SettingsDep,
    UnderlyingDep,
)
from market_data_service.api.schemas import (
    ChainOut,
    ContextOut,
    ExpiryOut,
    LegOut,
    QuoteOut,
    StrikeOut,
    UnderlyingOut,
    UnderlyingsOut,
)
from market_data_service.pricing import LegGreeks
from market_data_service.providers.access import (
    load_context,
    load_priced_chain,
    load_underlyings,
)
from market_data_service.providers.base import Leg, SettlingProvider, not_found
from optrade.schemas.market import ClosingLeg, ClosingStrike, SettlementValue
from optrade.symbols import format_symbol

router = APIRouter(prefix="/v1", tags=["market"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "unknown underlying, expiry or strike; the body names what exists"}
}
ExpiryQuery = Annotated[
    date | None, Query(description="expiry date YYYY-MM-DD; default the nearest live expiry")
]


def _broker(leg: Leg) -> dict[str, float | None]:
    """The upstream's own IV/Greeks as `broker_*` fields (all null when it sent none)."""
    broker = leg.broker
    return {
        f"broker_{name}": getattr(broker, name) if broker else None
        for name in ("iv", "delta", "gamma", "theta", "vega")
    }


def _leg_out(leg: Leg, priced: LegGreeks, symbol: str) -> LegOut:
    return LegOut(
        symbol=symbol,
        **_broker(leg),
        units_warning=leg.units_warning,
        ltp=leg.ltp,
        bid=leg.bid,
        ask=leg.ask,
        oi=leg.oi,
        volume=leg.volume,
        iv=priced.iv,
        nse_iv=leg.nse_iv,
        price_source=priced.price_source,
        iv_source=priced.iv_source,
        delta=priced.delta,
        gamma=priced.gamma,
        theta=priced.theta,
        vega=priced.vega,
        rho=priced.rho,
        greeks_error=priced.error,
    )


@router.get("/underlyings", summary="Underlyings with spot, lot size, strike step and expiries")
async def list_underlyings(
    provider: ProviderDep, settings: SettingsDep, as_of: AsOfDep
) -> UnderlyingsOut:
    """List every underlying served at `as_of`."""
    listings = await load_underlyings(provider, as_of)
    return UnderlyingsOut(
        underlyings=[
            UnderlyingOut(
                name=u.name,
                spot=u.spot,
                lot_size=u.expiries[0].lot_size,
                strike_step=u.strike_step,
                expiries=[
                    ExpiryOut(
                        expiry=e.expiry,
                        lot_size=e.lot_size,
                        calendar="estimated" if e.estimated else "official",
                    )
                    for e in u.expiries
                ],
                as_of=u.as_of,
            )
            for u in listings
            if u.expiries
        ],
        provider=provider.name,
        instance=settings.market_data_instance,
    )


@router.get("/chain/{underlying}", summary="Option chain of one expiry", responses=_NOT_FOUND)
async def get_chain(
    underlying: UnderlyingDep,
    provider: ProviderDep,
    pricer: PricerDep,
    settings: SettingsDep,
    as_of: AsOfDep,
    expiry: ExpiryQuery = None,
) -> ChainOut:
    """Every strike x CE/PE with quotes, OI, volume, recomputed IV and Greeks."""
    chain, priced = await load_priced_chain(provider, pricer, underlying, expiry, as_of)

    def symbol(strike: float, option_type: str) -> str:
        return format_symbol(chain.underlying, chain.expiry, strike, option_type)

    strikes = [
        StrikeOut(
            strike=row.strike,
            ce=_leg_out(row.ce, priced[(row.strike, "CE")], symbol(row.strike, "CE"))
            if row.ce
            else None,
            pe=_leg_out(row.pe, priced[(row.strike, "PE")], symbol(row.strike, "PE"))
            if row.pe
            else None,
        )
        for row in chain.rows
    ]
    return ChainOut(
        underlying=chain.underlying,
        expiry=chain.expiry,
        lot_size=chain.lot_size,
        spot=chain.spot,
        spot_source=chain.spot_source,
        vix=chain.vix,
        pcr=chain.pcr,
        as_of=chain.as_of,
        time_to_expiry_years=priced.t_years,
        rate=priced.rate,
        dividend_yield=settings.dividend_yield,
        forward=priced.forward,
        forward_source=priced.forward_source,
        provider=provider.name,
        instance=settings.market_data_instance,
        strikes=strikes,
        as_of_source=chain.as_of_source,
        upstream_at=chain.upstream_at,
    )


@router.get(
    "/quote/{underlying}", summary="One option with Greeks and context", responses=_NOT_FOUND
)
# `async def` with the provider's work in a worker thread: a cold chain may parse a replay file
# (tens of milliseconds) or, for a live provider, wait on the network, and must not stall the
# event loop; the chain and its Greeks stay cached by the provider and the pricer.
async def get_quote(
    underlying: UnderlyingDep,
    provider: ProviderDep,
    pricer: PricerDep,
    settings: SettingsDep,
    as_of: AsOfDep,
    strike: Annotated[float, Query(gt=0, allow_inf_nan=False, description="strike, index points")],
    option_type: Annotated[Literal["CE", "PE"], Query(description="CE (call) or PE (put)")],
    expiry: ExpiryQuery = None,
) -> QuoteOut:
    """One option's quote, OI, volume, IV and Greeks, with spot, VIX and PCR."""
    chain, chain_greeks = await load_priced_chain(provider, pricer, underlying, expiry, as_of)
    row = chain.row(strike)
    leg = row.leg(option_type)
    if leg is None:
        raise not_found(
            "option_type",
            f"option_type {option_type} not listed for {underlying} {chain.expiry.isoformat()} "
            f"at strike {strike:g}: the exchange shows no {option_type} at this strike",
        )
    priced = chain_greeks[(row.strike, option_type)]
    return QuoteOut(
        underlying=chain.underlying,
        expiry=chain.expiry,
        strike=row.strike,
        option_type=option_type,  # type: ignore[arg-type]
        lot_size=chain.lot_size,
        ltp=leg.ltp,
        bid=leg.bid,
        ask=leg.ask,
        oi=leg.oi,
        volume=leg.volume,
        iv=priced.iv,
        delta=priced.delta,
        gamma=priced.gamma,
        theta=priced.theta,
        vega=priced.vega,
        greeks_error=priced.error,
        spot=chain.spot,
        vix=chain.vix,
        pcr=chain.pcr,
        as_of=chain.as_of,
        provider=provider.name,
        nse_iv=leg.nse_iv,
        rho=priced.rho,
        price_source=priced.price_source,
        iv_source=priced.iv_source,
        time_to_expiry_years=chain_greeks.t_years,
        forward=chain_greeks.forward,
        rate=chain_greeks.rate,
        instance=settings.market_data_instance,
        as_of_source=chain.as_of_source,
        upstream_at=chain.upstream_at,
        units_warning=leg.units_warning,
        **_broker(leg),
    )


@router.get("/context/{underlying}", summary="Spot, India VIX and PCR", responses=_NOT_FOUND)
async def get_context(
    underlying: UnderlyingDep, provider: ProviderDep, settings: SettingsDep, as_of: AsOfDep
) -> ContextOut:
    """Spot, VIX and the PCR (OI) of the nearest live expiry."""
    snapshot = await load_context(provider, underlying, as_of)
    return ContextOut(
        underlying=snapshot.underlying,
        spot=snapshot.spot,
        vix=snapshot.vix,
        pcr=snapshot.pcr,
        as_of=snapshot.as_of,
        provider=provider.name,
        expiry=snapshot.expiry,
        instance=settings.market_data_instance,
    )


def _closing_leg(leg: Leg | None) -> ClosingLeg | None:
    if leg is None:
        return None
    return ClosingLeg(ltp=leg.ltp, bid=leg.bid, ask=leg.ask, oi=leg.oi, volume=leg.volume)


@router.get(
    "/settlement/{underlying}",
    summary="The index value an expiry settles against, with its closing quotes",
    responses={404: {"description": "unknown underlying or expiry, or not settled at as_of"}},
)
def get_settlement(
    underlying: UnderlyingDep,
    provider: ProviderDep,
    as_of: AsOfDep,
    expiry: Annotated[date, Query(description="expiry date YYYY-MM-DD")],
) -> SettlementValue:
    """Index options settle in cash at intrinsic value against the index's official close."""
    if not isinstance(provider, SettlingProvider):
        raise not_found(
            "expiry",
            f"the {provider.name} provider gives no settlement values; ask a simulated "
            "or nse-replay market-data service",
        )
    chain = provider.settlement(underlying, expiry, as_of)
    # Replay reads NSE's own close (records.index.last); other providers their 15:30 value.
    official = provider.name == "nse-replay" and chain.spot_source == "settlement"
    return SettlementValue(
        underlying=chain.underlying,
        expiry=chain.expiry,
        settlement_price=chain.spot,
        price_source="official_close" if official else "close",
        lot_size=chain.lot_size,
        vix=chain.vix,
        pcr=chain.pcr,
        as_of=chain.as_of,
        provider=provider.name,
        strikes=[
            ClosingStrike(strike=r.strike, ce=_closing_leg(r.ce), pe=_closing_leg(r.pe))
            for r in chain.rows
        ],
    )
