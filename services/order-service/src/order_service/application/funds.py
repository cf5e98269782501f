"""The account in the fill path (issue 22): funds checked before an opening fill, what the fill
ties up written on the position, and the margin labels of a trade.

* A BUY needs its premium + charges; a SELL its incremental margin (the account's margin on the
  underlying with the new short minus without it). More than `available` is refused
  (`InsufficientFunds`, 422 `/problems/insufficient-funds` naming `required` and `available`)
  before anything is written.
* The position records `margin_at_entry` (that incremental margin; for a long, the premium paid),
  `open_entry_charges` (the entry order's charges, paid at the fill) and its first mark, from
  the entry quote.
* A close moves its share of the entry charges into the trade's `charges` (the same share the
  close path computes; the UPDATE that takes the lots releases it) and labels the trade:
  `margin_blocked` = margin at entry × lots closed / lots opened, `return_on_margin` = net P&L /
  margin_blocked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from optrade.calendar import ist_date
from optrade.charges import NoChargeSchedule, order_charges, rate_table
from optrade.clients.market_data import CapturedQuote
from optrade.domain import Side
from optrade.errors import InsufficientFunds
from optrade.schemas.market import OptionQuote
from order_service.application.accounts import available_funds, books, position_leg
from order_service.domain.margin import MarketState, OptionLeg, portfolio_margin
from order_service.domain.mark_to_market import mark_of
from order_service.fills import Fill
from order_service.records import PositionRecord
from order_service.repository import Repository, UnitOfWork

PAISA = Decimal("0.01")
ZERO = Decimal("0.00")


def _paisa(value: Decimal) -> Decimal:
    return value.quantize(PAISA, rounding=ROUND_HALF_UP)


def entry_charges(
    side: Side, price: Decimal, units: int, day: date, share: Decimal
) -> Decimal | None:
    """The opening order's charges (`share` of its brokerage), None before the rate table."""
    try:
        schedule = rate_table().on(day)
    except NoChargeSchedule:
        return None
    return order_charges(schedule, side, price * units, share).total


def quote_leg(quote: OptionQuote, units: int) -> OptionLeg:
    """A quoted option as a leg of the scan: worth its mark (mid, LTP where a side is empty)."""
    mark = mark_of(quote.bid, quote.ask, quote.ltp)
    return OptionLeg(
        expiry=quote.expiry,
        strike=float(quote.strike),
        option_type=quote.option_type,
        units=units,
        iv=(quote.iv or 0.0) / 100.0,
        price=mark,  # None: no price, the model's value
    )


def quote_market(quote: OptionQuote, instant: datetime, forwards: dict[date, float]) -> MarketState:
    """The market of a quote's underlying at `instant`: its spot, rate and forward (the other
    expiries' forwards from the open positions' marks)."""
    known = dict(forwards)
    if quote.forward:
        known[quote.expiry] = quote.forward
    rate = quote.rate if quote.rate is not None else 0.065
    return MarketState(spot=quote.spot, as_of=instant, rate=rate, forwards=known)


@dataclass
class OpeningFunds:
    """What an opening fill ties up (position columns) and what it needs of the account.
    `opened` names the position the fill wrote."""

    account: str
    columns: dict[str, Any]
    required: Decimal
    what: str  # what `required` is made of, for the refusal
    position: PositionRecord | None = None

    def opened(self, position: PositionRecord) -> PositionRecord:
        self.position = position
        return position

    def check(self, available: Decimal) -> None:
        if self.required > available:
            raise InsufficientFunds(self.account, str(self.required), str(available), self.what)


@asynccontextmanager
async def funded_opening(
    work: UnitOfWork,
    repository: Repository,
    *,
    account: str,
    side: Side,
    lots: int,
    captured: CapturedQuote,
    fill: Fill,
    instant: datetime,
) -> AsyncIterator[OpeningFunds]:
    """An opening fill funded by its account, checked while the account's lock is held (in
    `work`'s transaction): two fills of one account never both spend the same available funds.
    The block writes the position (`funds.opened(...)`) and its order.

    A SELL's incremental margin is checked before the block runs (it is computed from the
    account's positions); a BUY's premium and charges after it, against the funds the account
    had before its position (so the lock is held for one statement and the commit; the block may
    take it with its rows' insert, `add_filled_position(..., lock_account=funds.account)`). More
    than `available` raises `InsufficientFunds` and the unit of work rolls back."""
    bound = repository.bound(work)
    quote = captured.quote
    units = lots * quote.lot_size
    charges = entry_charges(side, fill.price, units, ist_date(quote.as_of or instant), Decimal(1))
    if side is Side.SELL:
        await work.lock_account(account)
        funds = await _sell_funds(bound, account, units, charges, quote, instant)
        yield funds
        return
    funds = _buy_funds(account, fill.price * units, charges, quote, instant)
    yield funds
    if funds.position is None:
        raise RuntimeError("a funded opening names the position it wrote (OpeningFunds.opened)")
    await work.lock_account(account)
    funds.check(await available_funds(bound, account, before=funds.position))


def _buy_funds(
    account: str, cost: Decimal, charges: Decimal | None, quote: OptionQuote, instant: datetime
) -> OpeningFunds:
    """A BUY needs its premium (`cost`, price × units) and its charges; it blocks its premium."""
    premium = _paisa(cost)
    return OpeningFunds(
        account,
        _columns(account, premium, charges, quote, instant),
        required=premium + (charges or ZERO),
        what=f"the premium {premium} and charges {charges or ZERO}",
    )


async def _sell_funds(
    repository: Repository,
    account: str,
    units: int,
    charges: Decimal | None,
    quote: OptionQuote,
    instant: datetime,
) -> OpeningFunds:
    """A SELL needs (and blocks) its incremental margin: the account's margin on the underlying
    with the new short minus without it; checked now."""
    open_positions = await repository.open_positions(account)
    held = [p for p in open_positions if p.underlying == quote.underlying]
    book = books(held).get(quote.underlying)
    market = quote_market(quote, instant, dict(book.market.forwards) if book else {})
    legs = tuple(position_leg(p) for p in held)
    without = portfolio_margin(legs, market).margin
    with_new = portfolio_margin((*legs, quote_leg(quote, -units)), market).margin
    required = max(with_new - without, ZERO)
    funds = OpeningFunds(
        account,
        _columns(account, required, charges, quote, instant),
        required=required,
        what=f"the margin of this sell ({with_new} with it, {without} without)",
    )
    funds.check(await available_funds(repository, account, open_positions))
    return funds


def _columns(
    account: str, blocked: Decimal, charges: Decimal | None, quote: OptionQuote, instant: datetime
) -> dict[str, Any]:
    return {
        "account": account,
        "margin_at_entry": blocked,
        "open_entry_charges": charges,
        **first_mark(quote, instant),
    }


def first_mark(quote: OptionQuote, instant: datetime) -> dict[str, Any]:
    """The position's mark at its fill: the entry quote's mid (LTP where a side is empty)."""
    mark = mark_of(quote.bid, quote.ask, quote.ltp)
    return {
        "mark_price": None if mark is None else _paisa(Decimal(repr(mark))),
        "marked_at": instant,
        "mark_iv": quote.iv,
        "mark_spot": _paisa(Decimal(repr(quote.spot))),
        "mark_forward": quote.forward,
        "mark_delta": quote.delta,
        "mark_gamma": quote.gamma,
        "mark_theta": quote.theta,
        "mark_vega": quote.vega,
    }


def released_entry_charges(
    position: PositionRecord, lots: int, trade_charges: Decimal | None
) -> Decimal:
    """The lots' share of the entry charges a close moves off the position into its trade's
    `charges` (the account counts every rupee once); zero when the trade's charges are unknown
    (before the rate table) or the position holds none."""
    if trade_charges is None or position.open_entry_charges is None:
        return ZERO
    day = ist_date(position.entry_market_at or position.opened_at)
    share = entry_charges(
        Side(position.side), position.entry_price, lots * position.lot_size, day,
        Decimal(lots) / Decimal(position.lots),
    )  # fmt: skip
    return ZERO if share is None else share


def margin_labels(position: PositionRecord, lots: int, net_pnl: Decimal | None) -> dict[str, Any]:
    """`margin_blocked` (the margin at entry in proportion to the lots closed) and
    `return_on_margin` (net P&L over it; null without either)."""
    if position.margin_at_entry is None:
        return {"margin_blocked": None, "return_on_margin": None}
    blocked = _paisa(position.margin_at_entry * lots / position.lots)
    ratio = None if net_pnl is None or blocked <= 0 else float(net_pnl / blocked)
    return {"margin_blocked": blocked, "return_on_margin": ratio}


__all__ = ["OpeningFunds", "funded_opening", "margin_labels", "released_entry_charges"]
