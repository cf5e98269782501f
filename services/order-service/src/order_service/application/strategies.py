"""Open a strategy: every leg priced from one chain observation, the basket margined beside the
account's positions, then one unit of work that inserts the strategy and every leg's order and
position, or nothing (docs/strategies.md).

A leg that cannot be resolved (an unlisted strike, an offset beyond the chain, a size off the lot
size) or filled (no bid, ask nor LTP on its closing side) refuses the whole strategy with a 422
naming the leg (`legs.2.strike`) before anything is written. The strategy row holds the client's
`Idempotency-Key` (unique): a concurrent retry loses at its insert, the unit of work rolls back
(no leg is left) and the winner is replayed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from optrade.calendar import ist_date
from optrade.clients.errors import MarketDataError
from optrade.clients.market_data import (
    CapturedChain,
    CapturedQuote,
    MarketDataClient,
    QuoteRejected,
    QuoteUnavailable,
)
from optrade.domain import OptionType, OrderIntent, OrderType, Side, Validity
from optrade.errors import (
    Conflict,
    DomainError,
    InsufficientFunds,
    InvalidInput,
    UpstreamUnavailable,
)
from optrade.instruments import get_instruments
from optrade.schemas.market import ChainLeg, OptionChain
from optrade.symbols import OptionSymbol, SymbolError, parse_symbol
from order_service.application.accounts import available_funds
from order_service.application.closing import IDEMPOTENCY_HEADER, SNAPSHOTS
from order_service.application.funds import entry_charges, first_mark
from order_service.application.placing import (
    Filling,
    check_not_expired,
    check_square_off,
    filled_order,
    observation_of,
    position_values,
)
from order_service.domain.exits import square_off_instant
from order_service.domain.margin import (
    MarginCheck,
    MarketState,
    OptionLeg,
    basket_margin,
    portfolio_margin,
)
from order_service.domain.matching import Observation, Rejection, market_fill
from order_service.domain.strategies import OffsetError, resolve_offset
from order_service.domain.strategy_exits import (
    StrategyExit,
    StrategyExits,
    StrategyLeg,
    check_strategy_exits,
    evaluate_strategy_exits,
    leg_mark,
)
from order_service.fills import Fill
from order_service.market_hours import MarketTiming
from order_service.records import PositionRecord, StrategyRecord, TradeRecord
from order_service.repository import KeyTaken, Repository, UnitOfWork
from order_service.strategy_schemas import StrategyLegRequest, StrategyRequest

Contract = tuple[Decimal, str]  # (strike, "CE" | "PE") within the strategy's expiry
ChainIndex = dict[tuple[float, str], ChainLeg]
CENTS = Decimal("0.01")


ZERO = Decimal("0.00")


@dataclass(frozen=True)
class PricedLeg:
    """A leg resolved and filled on the strategy's one observation."""

    contract: OptionSymbol
    side: Side
    lots: int
    offset: str | None
    captured: CapturedQuote
    fill: Fill

    @property
    def units(self) -> int:
        return self.lots * self.captured.quote.lot_size


@dataclass(frozen=True)
class StrategyView:
    """A strategy with its legs' positions and trades (as stored now)."""

    strategy: StrategyRecord
    positions: list[PositionRecord]
    trades: list[TradeRecord]
    replayed: bool = False


async def open_strategy(
    *,
    repository: Repository,
    market_data: MarketDataClient,
    request: StrategyRequest,
    idempotency_key: str | None,
    timing: MarketTiming,
    square_off_at: time,
) -> StrategyView:
    """Open every leg of `request` or none; or replay the strategy an earlier request opened."""
    fingerprint = request.fingerprint()
    try:
        expiry = strategy_expiry(request, timing.instant)
        exits = check_strategy_exits(
            StrategyExits(request.stop_loss_pnl, request.target_pnl, request.exit_at)
        )
        check_square_off(request.product, timing.instant, square_off_at)
        # The chain and the positions to margin beside are read at once (one wait, not two).
        captured, held = await asyncio.gather(
            fetch_chain(market_data, request.underlying, expiry, timing.instant),
            repository.open_legs_of(request.underlying, timing.mode.value, request.account),
        )
        legs = [price_leg(i, leg, captured) for i, leg in enumerate(request.legs)]
        check_not_expired(legs[0].contract, timing.instant)
        squared_at = square_off_instant(request.product, timing.instant, square_off_at)
        _check_exits_on_arrival(legs, exits, captured)
        margin = margin_beside_positions(held, legs, captured)
    except DomainError:
        earlier = await _replay(repository, idempotency_key, fingerprint)
        if earlier is None:
            raise
        return earlier
    values = {
        "name": request.strategy, "underlying": request.underlying, "expiry": expiry,
        "legs": [_leg_summary(leg) for leg in legs], "net_premium": net_premium(legs),
        "margin": margin.basket.margin if margin.basket else None, "account": request.account,
        "product": request.product, "mode": timing.mode, "stop_loss_pnl": exits.stop_loss_pnl,
        "target_pnl": exits.target_pnl, "exit_at": exits.exit_at, "square_off_at": squared_at,
        "idempotency_key": idempotency_key, "request_fingerprint": fingerprint,
        "opened_at": timing.instant, "exits_evaluated_at": captured.chain.as_of,
    }  # fmt: skip
    try:
        return await _store(repository, values, request, legs, margin, timing, square_off_at)
    except KeyTaken:  # the key is taken: replay (or refuse) the winner
        earlier = await _replay(repository, idempotency_key, fingerprint)
        if earlier is None:
            raise Conflict("the strategy conflicts with a stored one; retry it") from None
        return earlier


def strategy_expiry(request: StrategyRequest, instant: datetime) -> date:
    """The expiry asked, else that of the first leg given by symbol, else the nearest one whose
    15:30 IST close is after `instant`."""
    if request.expiry is not None:
        return request.expiry
    for index, leg in enumerate(request.legs):
        if leg.symbol is not None:
            return _parsed(index, leg.symbol).expiry
    spec = get_instruments().get(request.underlying)
    if spec is None:
        known = ", ".join(get_instruments())
        raise InvalidInput("underlying", f"{request.underlying} is not one of {known}")
    for expiry in spec.expiries_between(instant.date(), instant.date() + timedelta(days=45)):
        if expiry_is_open(expiry.expiry, instant):
            return expiry.expiry
    raise InvalidInput("expiry", "required: no listed expiry in the next 45 days")


def expiry_is_open(expiry: date, instant: datetime) -> bool:
    try:
        check_not_expired(OptionSymbol("X", expiry, Decimal(1), "CE"), instant)
    except InvalidInput:
        return False
    return True


async def fetch_chain(
    market_data: MarketDataClient, underlying: str, expiry: date, instant: datetime
) -> CapturedChain:
    """One observation of the whole chain: every leg is priced (or closed) from it."""
    try:
        return await market_data.afetch_chain(underlying, expiry, instant)
    except QuoteRejected as exc:
        raise InvalidInput(exc.field, exc.detail) from exc
    except (QuoteUnavailable, MarketDataError) as exc:
        raise UpstreamUnavailable(
            f"no market-data provider answered; nothing written: {exc}"
        ) from exc


def _parsed(index: int, symbol: str) -> OptionSymbol:
    try:
        return parse_symbol(symbol)
    except SymbolError as exc:
        raise InvalidInput(f"legs.{index}.symbol", str(exc)) from None


def _leg_contract(index: int, leg: StrategyLegRequest, captured: CapturedChain) -> OptionSymbol:
    """The leg's contract on the chain's underlying and expiry, from its symbol, strike or
    offset; 422 naming the leg's field."""
    field = f"legs.{index}"
    chain = captured.chain
    if sum(part is not None for part in (leg.symbol, leg.strike, leg.offset)) != 1:
        raise InvalidInput(field, "give exactly one of symbol, strike or offset")
    if leg.symbol is not None:
        named = _parsed(index, leg.symbol)
        if (named.underlying, named.expiry) != (chain.underlying, chain.expiry):
            raise InvalidInput(
                f"{field}.symbol",
                f"{leg.symbol} is not on the strategy's {chain.underlying} "
                f"{chain.expiry.isoformat()} chain",
            )
        if leg.option_type is not None and leg.option_type != named.option_type:
            raise InvalidInput(f"{field}.option_type", f"disagrees with symbol {leg.symbol}")
        return named
    if leg.option_type is None:
        raise InvalidInput(f"{field}.option_type", "required with strike or offset")
    strike = leg.strike
    if leg.offset is not None:
        listed = [
            Decimal(str(row.strike)).quantize(CENTS)
            for row in chain.strikes
            if row.leg(leg.option_type)
        ]
        forward = chain.forward if chain.forward is not None else chain.spot
        try:
            strike = resolve_offset(leg.offset, OptionType(leg.option_type), listed, forward)
        except OffsetError as exc:
            raise InvalidInput(f"{field}.offset", str(exc)) from None
    assert strike is not None
    return OptionSymbol(chain.underlying, chain.expiry, strike, leg.option_type.value)


def price_leg(index: int, leg: StrategyLegRequest, captured: CapturedChain) -> PricedLeg:
    """Resolve leg `index` and fill it as a MARKET order on the strategy's observation."""
    field = f"legs.{index}"
    contract = _leg_contract(index, leg, captured)
    try:
        quote = captured.quote(contract.strike, contract.option_type)
    except QuoteRejected as exc:
        raise InvalidInput(f"{field}.{exc.field}", exc.detail) from None
    lots = _leg_lots(field, leg, quote.quote.lot_size)
    fill = market_fill(leg.side, observation_of(quote.quote))
    if fill is None:
        raise InvalidInput(
            field, f"{contract} has no {'ask' if leg.side == Side.BUY else 'bid'} nor last "
            "price to fill at on this observation",
        )  # fmt: skip
    return PricedLeg(contract, leg.side, lots, leg.offset, quote, fill)


def _leg_lots(field: str, leg: StrategyLegRequest, lot_size: int) -> int:
    if (leg.lots is None) == (leg.units is None):
        raise InvalidInput(f"{field}.lots", "give lots or units (one of them)")
    if leg.lots is not None:
        return leg.lots
    assert leg.units is not None
    if leg.units % lot_size:
        raise InvalidInput(f"{field}.units", f"not a multiple of the lot size {lot_size}")
    return leg.units // lot_size


def net_premium(legs: Sequence[PricedLeg]) -> Decimal:
    """Rupees paid for the structure: the longs' premium less the shorts'."""
    return sum((leg.fill.price * leg.units * leg.side.sign for leg in legs), Decimal(0)).quantize(
        CENTS
    )


def _leg_summary(leg: PricedLeg) -> dict[str, Any]:
    return {
        "symbol": str(leg.contract), "strike": str(leg.contract.strike),
        "option_type": str(leg.contract.option_type), "side": leg.side.value, "lots": leg.lots,
        "offset": leg.offset, "entry_price": str(leg.fill.price),
    }  # fmt: skip


def _key(contract: OptionSymbol) -> Contract:
    """A leg's contract within the strategy's chain."""
    return (Decimal(contract.strike), str(contract.option_type))


def _check_exits_on_arrival(
    legs: Sequence[PricedLeg], exits: StrategyExits, captured: CapturedChain
) -> None:
    """A stop already reached or an exit_at already past is refused; so is a target already
    reached (it would close on arrival), as for a single order."""
    if exits == StrategyExits():
        return
    domain_legs = [
        StrategyLeg(_key(leg.contract), leg.side, leg.fill.price, leg.units) for leg in legs
    ]
    quotes: dict[Hashable, Observation] = {
        _key(leg.contract): observation_of(leg.captured.quote) for leg in legs
    }
    result = evaluate_strategy_exits(
        domain_legs, exits, quotes, instant=captured.chain.as_of, on_arrival=True
    )
    if isinstance(result, Rejection):
        raise result.error()
    if isinstance(result, StrategyExit):
        raise InvalidInput("target_pnl", f"{exits.target_pnl} is already reached on arrival")


def _iv(quote_iv: float | None, vix: float | None) -> float:
    """A decimal volatility for the scan: the leg's own IV, else India VIX, else none (0)."""
    percent = quote_iv if quote_iv is not None else vix
    return (percent or 0.0) / 100


def _mid(observation: Observation) -> float | None:
    mark = leg_mark(observation)
    return float(mark) if mark is not None else None


def _held_leg(position: Any, chain: OptionChain, listed: ChainIndex) -> OptionLeg:
    """An open position as the scan sees it: marked on this chain where it is listed."""
    units = position.quantity_open * position.lot_size * Side(position.side).sign
    iv, price = position.entry_iv, None
    if position.expiry == chain.expiry:
        quoted = listed.get((float(position.strike), str(position.option_type)))
        if quoted is not None:
            iv = quoted.iv if quoted.iv is not None else iv
            price = _float_mark(quoted)
    return OptionLeg(position.expiry, float(position.strike), OptionType(position.option_type),
                     units, _iv(iv, chain.vix), price)  # fmt: skip


def _float_mark(leg: ChainLeg) -> float | None:
    """`leg_mark` on a chain's floats: the mid, else the LTP, else the one side quoted."""
    bid, ask, ltp = (v if v is not None and v > 0 else None for v in (leg.bid, leg.ask, leg.ltp))
    if bid is not None and ask is not None:
        return (bid + ask) / 2
    return ltp or bid or ask


def _chain_index(chain: OptionChain) -> ChainIndex:
    """Every listed contract of the chain by (strike, option type), read once per basket."""
    return {
        (row.strike, option_type): leg
        for row in chain.strikes
        for option_type, leg in (("CE", row.ce), ("PE", row.pe))
        if leg is not None
    }


def margin_beside_positions(
    held: Sequence[Any], legs: Sequence[PricedLeg], captured: CapturedChain
) -> BasketMargin:
    """The basket's margin with the open positions `held` of its underlying (the hedge benefit
    comes from the scan of the whole portfolio), and alone."""
    chain = captured.chain
    basket = [
        OptionLeg(chain.expiry, float(leg.contract.strike), OptionType(leg.contract.option_type),
                  leg.units * leg.side.sign, _iv(leg.captured.quote.iv, chain.vix),
                  _mid(observation_of(leg.captured.quote)))
        for leg in legs
    ]  # fmt: skip
    listed = _chain_index(chain)
    forwards = {chain.expiry: chain.forward} if chain.forward is not None else {}
    market = MarketState(chain.spot, chain.as_of, chain.rate or 0.0, forwards)
    held_legs = [_held_leg(p, chain, listed) for p in held]
    check = basket_margin(held_legs, basket, market)
    without = portfolio_margin(held_legs, market).margin if held_legs else Decimal("0.00")
    return BasketMargin(check.combined, check.basket, max(check.combined.margin - without, ZERO))


@dataclass(frozen=True)
class BasketMargin(MarginCheck):
    """The basket's margin beside the positions, alone, and what it adds to the account's."""

    incremental: Decimal = Decimal("0.00")


async def basket_funds(
    work: UnitOfWork,
    repository: Repository,
    account: str,
    legs: Sequence[PricedLeg],
    margin: BasketMargin,
    instant: datetime,
) -> list[dict[str, Any]]:
    """Refuse a basket the account cannot carry (422 insufficient-funds), checked under the
    account's lock in the unit of work that writes it: the margin it adds to the account's, the
    premium its longs pay and the entry charges, against what is available. Each leg's funds
    columns (what it ties up, its entry charges, its first mark) when it can."""
    await work.lock_account(account)
    day = ist_date(instant)
    charges = [
        entry_charges(leg.side, leg.fill.price, leg.units, day, Decimal(1)) or ZERO
        for leg in legs
    ]  # fmt: skip
    paid = sum((leg.fill.price * leg.units for leg in legs if leg.side is Side.BUY), ZERO)
    required = margin.incremental + paid + sum(charges, ZERO)
    available = await available_funds(repository.bound(work), account)
    if required > available:
        raise InsufficientFunds(
            account, str(required), str(available),
            f"the basket's margin {margin.incremental}, its premium {paid} and charges",
        )  # fmt: skip
    short_units = sum(leg.units for leg in legs if leg.side is Side.SELL) or 1
    return [
        {
            "account": account,
            "margin_at_entry": (
                (leg.fill.price * leg.units).quantize(ZERO) if leg.side is Side.BUY
                else (margin.incremental * leg.units / short_units).quantize(ZERO)
            ),
            "open_entry_charges": leg_charges,
            **first_mark(leg.captured.quote, instant),
        }
        for leg, leg_charges in zip(legs, charges, strict=True)
    ]  # fmt: skip


async def _store(
    repository: Repository,
    values: dict[str, Any],
    request: StrategyRequest,
    legs: Sequence[PricedLeg],
    margin: BasketMargin,
    timing: MarketTiming,
    square_off_at: time,
) -> StrategyView:
    """One unit of work: the account's funds checked under its lock, the strategy, then each
    leg's position and the order that opened it."""
    async with repository.unit_of_work() as work:
        funds = await basket_funds(work, repository, request.account, legs, margin, timing.instant)
        strategy = await work.add_strategy(values)
        orders = [_leg_order(request, leg, strategy.id, timing) for leg in legs]
        fillings = [
            Filling(leg.fill, leg.captured, timing.recorded_at, timing.instant, timing.mode,
                    timing.off_hours)
            for leg in legs
        ]  # fmt: skip
        # Legs exit together on the strategy's exits, never alone: no square-off of their own.
        positions = await work.add_positions(
            [
                position_values(order, filling, square_off_at)
                | leg_funds
                | {"strategy_id": strategy.id, "square_off_at": None}
                for order, filling, leg_funds in zip(orders, fillings, funds, strict=True)
            ]
        )
        await work.add_orders(
            [
                order | filled_order(position, filling)
                for order, filling, position in zip(orders, fillings, positions, strict=True)
            ]
        )
    for leg in legs:
        SNAPSHOTS.labels("entry", leg.captured.source).inc()
    return StrategyView(strategy, positions, [])


def _leg_order(
    request: StrategyRequest, leg: PricedLeg, strategy_id: int, timing: MarketTiming
) -> dict[str, Any]:
    """The MARKET order that opens one leg, with the strategy's model metadata."""
    contract = leg.contract
    return {
        "intent": OrderIntent.OPEN, "order_type": OrderType.MARKET,
        "underlying": contract.underlying, "expiry": contract.expiry, "strike": contract.strike,
        "option_type": contract.option_type, "side": leg.side, "lots": leg.lots,
        "lot_size": leg.captured.quote.lot_size, "product": request.product,
        "validity": Validity.DAY, "placed_at": timing.instant,
        "evaluated_at": leg.captured.quote.as_of, "mode": timing.mode,
        "ml_score": request.ml_score, "model_version": request.model_version,
        "model_hash": request.model_hash, "features_snapshot": request.features_snapshot,
        "stop_loss": None, "target": None, "trailing_stop": None, "exit_at": None,
        "strategy_id": strategy_id, "account": request.account,
    }  # fmt: skip


async def _replay(
    repository: Repository, idempotency_key: str | None, fingerprint: str
) -> StrategyView | None:
    """The strategy an earlier request with this key opened, if any."""
    if idempotency_key is None:
        return None
    earlier = await repository.strategy_by_key(idempotency_key)
    if earlier is None:
        return None
    if earlier.request_fingerprint != fingerprint:
        raise InvalidInput(
            IDEMPOTENCY_HEADER,
            f"{idempotency_key!r} was already used for a different strategy ({earlier.id})",
        )
    positions, trades = await repository.strategy_legs(earlier.id)
    return StrategyView(earlier, positions, trades, replayed=True)


__all__ = ["StrategyView", "open_strategy"]
