"""`POST /v1/margins`: the margin of a hypothetical basket with the account's open positions, and
alone (as Kite's basket-margin API), before a signal engine sends it.

Each leg is priced from its quote at `as_of` (the market-data client, one quote per leg through the
breakers and the fallback): its mark (mid, LTP where a side is empty), its IV, the underlying's
spot, rate and the expiry's forward. The account's open positions on that underlying are priced
from their stored marks (`order_service.application.accounts.position_leg`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal

from optrade.clients.market_data import (
    MarketDataClient,
    QuoteRejected,
    QuoteRequest,
    QuoteUnavailable,
)
from optrade.domain import Side
from optrade.errors import InvalidInput, UpstreamUnavailable
from optrade.schemas.market import OptionQuote
from optrade.symbols import OptionSymbol, SymbolError, parse_symbol
from order_service.application.accounts import books, position_leg
from order_service.application.funds import quote_leg, quote_market
from order_service.domain.margin import Margin, OptionLeg, basket_margin, portfolio_margin
from order_service.repository import Repository


@dataclass(frozen=True)
class BasketLeg:
    symbol: str
    side: Side
    lots: int


@dataclass(frozen=True)
class PricedLeg:
    symbol: str
    side: Side
    lots: int
    units: int
    price: float | None
    iv: float | None


@dataclass(frozen=True)
class MarginAnswer:
    account: str
    underlying: str
    as_of: datetime
    combined: Margin  # the basket with the account's open positions on the underlying
    basket: Margin  # the basket alone
    positions: Margin  # the account's open positions alone (what they block now)
    legs: list[PricedLeg]

    @property
    def incremental(self) -> Decimal:
        return self.combined.margin - self.positions.margin


def _contract(index: int, leg: BasketLeg) -> OptionSymbol:
    try:
        return parse_symbol(leg.symbol)
    except SymbolError as exc:
        raise InvalidInput(f"legs[{index}].symbol", str(exc)) from exc


async def _quote(
    market_data: MarketDataClient, index: int, contract: OptionSymbol, instant: datetime
) -> OptionQuote:
    request = QuoteRequest(
        contract.underlying, contract.expiry, contract.strike, contract.option_type, instant
    )
    try:
        return (await market_data.acapture_quote(request)).quote
    except QuoteRejected as exc:
        raise InvalidInput(f"legs[{index}].symbol", exc.detail) from exc
    except QuoteUnavailable as exc:
        raise UpstreamUnavailable(f"no market-data provider answered: {exc}") from exc


async def check_margin(
    repository: Repository,
    market_data: MarketDataClient,
    *,
    account: str,
    legs: list[BasketLeg],
    instant: datetime,
) -> MarginAnswer:
    """The basket's margin with the account's open positions and alone, at `instant`."""
    contracts = [_contract(i, leg) for i, leg in enumerate(legs)]
    underlyings = {c.underlying for c in contracts}
    if len(underlyings) > 1:
        named = ", ".join(sorted(underlyings))
        raise InvalidInput("legs", f"one underlying per basket, got {named}")
    (underlying,) = underlyings
    quotes = await asyncio.gather(
        *(_quote(market_data, i, c, instant) for i, c in enumerate(contracts))
    )
    held = [p for p in await repository.open_positions(account) if p.underlying == underlying]
    book = books(held).get(underlying)
    forwards: dict[date, float] = dict(book.market.forwards) if book else {}
    quoted = {q.expiry: q.forward for q in quotes if q.forward}
    market = replace(quote_market(quotes[0], instant, forwards), forwards=forwards | quoted)
    basket: list[OptionLeg] = []
    priced = []
    for leg, quote in zip(legs, quotes, strict=True):
        units = leg.lots * quote.lot_size * (1 if leg.side is Side.BUY else -1)
        scanned = quote_leg(quote, units)
        basket.append(scanned)
        priced.append(
            PricedLeg(leg.symbol.upper(), leg.side, leg.lots, abs(units), scanned.price, quote.iv)
        )
    open_legs = [position_leg(p) for p in held]
    check = basket_margin(open_legs, basket, market)
    assert check.basket is not None
    return MarginAnswer(
        account=account,
        underlying=underlying,
        as_of=instant,
        combined=check.combined,
        basket=check.basket,
        positions=portfolio_margin(open_legs, market),
        legs=priced,
    )
