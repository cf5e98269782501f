"""A paper account as a broker's funds page shows it (issue 22; docs/accounts.md).

The database sums the trades and positions of the account (`Repository.account_totals`); the
margin of its open positions comes from the SPAN-like scan (`order_service.domain.margin`) over
each underlying's open legs, priced from their stored marks. The identities, to the paisa:

    cash      = capital + realized - charges - premium paid for open longs
                + premium received for open shorts
    available = cash - used_margin
    equity    = capital + realized + unrealized - charges

`realized` is the gross P&L of the trades, `charges` every rupee of charges paid (the trades'
round trips plus the entry charges of lots still open), `unrealized` Σ (mark - entry) × units ×
side over the open positions that have a mark.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal

from optrade.domain import IST, OptionType, Side
from optrade.errors import InvalidInput
from order_service.account_store import AccountTotals, EquityRecord, GreekTotals
from order_service.domain.margin import Margin, MarketState, OptionLeg, portfolio_margin
from order_service.records import PositionRecord
from order_service.repository import Repository
from order_service.settings import get_order_settings

ZERO = Decimal("0.00")
DEFAULT_RATE = 0.065  # when neither the mark nor the entry snapshot holds the quote's rate
ACCOUNT_PATTERN = r"^[A-Za-z0-9_.-]{1,32}$"


@dataclass(frozen=True)
class UnderlyingBook:
    """The open legs of one underlying and the market they are valued in."""

    legs: tuple[OptionLeg, ...]
    market: MarketState


@dataclass(frozen=True)
class AccountPage:
    account: str
    capital: Decimal
    cash: Decimal
    used_margin: Decimal
    available: Decimal
    realized: Decimal
    unrealized: Decimal
    charges: Decimal
    equity: Decimal
    premium_paid_open: Decimal
    premium_received_open: Decimal
    open_positions: int
    unmarked: int
    margins: dict[str, Margin] = field(default_factory=dict)
    greeks: dict[str, GreekTotals] = field(default_factory=dict)
    marked_at: datetime | None = None  # the latest mark the page values


def default_capital() -> Decimal:
    """`ORDER_ACCOUNT_CAPITAL`: the capital of an account nobody set one for."""
    return get_order_settings().account_capital


async def set_capital(
    repository: Repository, account: str, capital: Decimal, now: datetime
) -> None:
    await repository.set_account_capital(account, capital, now)


def position_leg(position: PositionRecord) -> OptionLeg:
    """The position as a leg of the scan: signed units of what is open, its last mark (else the
    entry price) and IV (else the entry's, as a decimal; 0 without any: the 4-point floor)."""
    iv = position.mark_iv if position.mark_iv is not None else position.entry_iv
    price = position.mark_price if position.mark_price is not None else position.entry_price
    sign = 1 if position.side == Side.BUY else -1
    return OptionLeg(
        expiry=position.expiry,
        strike=float(position.strike),
        option_type=OptionType(position.option_type),
        units=sign * position.quantity_open * position.lot_size,
        iv=(iv or 0.0) / 100.0,
        price=float(price),
    )


def _marked_at(position: PositionRecord) -> datetime:
    return position.marked_at or position.entry_market_at or position.opened_at


def books(positions: Iterable[PositionRecord]) -> dict[str, UnderlyingBook]:
    """Each underlying's open legs, valued at the latest mark among them: its spot, its rate, and
    each expiry's forward from the latest mark of that expiry."""
    by_underlying: dict[str, list[PositionRecord]] = defaultdict(list)
    for position in positions:
        if position.quantity_open > 0:
            by_underlying[position.underlying].append(position)
    found: dict[str, UnderlyingBook] = {}
    for underlying, held in by_underlying.items():
        held.sort(key=_marked_at)
        latest = held[-1]
        forwards: dict[date, float] = {}
        for position in held:  # oldest first: the latest mark of an expiry wins
            forward = position.mark_forward or position.entry_forward
            if forward:
                forwards[position.expiry] = float(forward)
        spot = latest.mark_spot or latest.entry_spot
        if spot is None:
            raise InvalidInput("spot", f"position {latest.id} has no spot to value its margin")
        market = MarketState(
            spot=float(spot),
            as_of=_marked_at(latest),
            rate=latest.entry_rate if latest.entry_rate is not None else DEFAULT_RATE,
            forwards=forwards,
        )
        found[underlying] = UnderlyingBook(tuple(position_leg(p) for p in held), market)
    return found


def used_margins(positions: Sequence[PositionRecord]) -> dict[str, Margin]:
    """The margin of the open positions, per underlying."""
    return {
        underlying: portfolio_margin(book.legs, book.market)
        for underlying, book in books(positions).items()
    }


def funds_page(
    account: str,
    capital: Decimal,
    totals: AccountTotals,
    margins: dict[str, Margin],
    marked_at: datetime | None = None,
) -> AccountPage:
    """The page from the database's sums and the margins: the identities of the module doc."""
    used = sum((m.margin for m in margins.values()), ZERO)
    cash = (
        capital
        + totals.realized
        - totals.charges
        - totals.premium_paid_open
        + totals.premium_received_open
    )
    return AccountPage(
        account=account,
        capital=capital,
        cash=cash,
        used_margin=used,
        available=cash - used,
        realized=totals.realized,
        unrealized=totals.unrealized,
        charges=totals.charges,
        equity=capital + totals.realized + totals.unrealized - totals.charges,
        premium_paid_open=totals.premium_paid_open,
        premium_received_open=totals.premium_received_open,
        open_positions=totals.open_positions,
        unmarked=totals.unmarked,
        margins=margins,
        greeks=totals.greeks,
        marked_at=marked_at,
    )


async def account_page(repository: Repository, account: str) -> AccountPage:
    """The account's funds page now."""
    totals = await repository.account_totals(account)
    positions = await repository.open_positions(account)
    marked_at = max((_marked_at(p) for p in positions), default=None)
    return funds_page(account, _capital(totals), totals, used_margins(positions), marked_at)


async def available_funds(
    repository: Repository,
    account: str,
    held: Sequence[PositionRecord] | None = None,
    *,
    before: PositionRecord | None = None,
) -> Decimal:
    """What the account can spend now: cash minus the margin its shorts block (the funds page's
    `available`). One statement when the account holds no short (a book of longs alone blocks
    no margin); else the positions of the underlyings it is short in are read as well, unless
    `held` (its open positions, read already in this unit of work) is given.

    `before`: a position this unit of work has just written; the funds are those the account had
    before it (its premium and entry charges added back, its margin left out)."""
    totals = await repository.account_totals(account, greeks=False)
    if before is not None:
        totals = without_position(totals, before)
    margins: dict[str, Margin] = {}
    if totals.open_shorts:
        if held is None:
            held = await repository.open_positions_on_shorted_underlyings(account)
        if before is not None:
            held = [p for p in held if p.id != before.id]
        margins = used_margins(on_shorted_underlyings(held))
    return funds_page(account, _capital(totals), totals, margins).available


def without_position(totals: AccountTotals, position: PositionRecord) -> AccountTotals:
    """The sums (but the Greeks) as they were before `position`, open and never partly closed,
    was written."""
    units = position.quantity_open * position.lot_size
    premium = position.entry_price * units
    buy = position.side == Side.BUY
    unrealized = ZERO
    if position.mark_price is not None:
        unrealized = (position.mark_price - position.entry_price) * units * (1 if buy else -1)
    return replace(
        totals,
        premium_paid_open=totals.premium_paid_open - (premium if buy else ZERO),
        premium_received_open=totals.premium_received_open - (ZERO if buy else premium),
        open_entry_charges=totals.open_entry_charges - (position.open_entry_charges or ZERO),
        unrealized=totals.unrealized - unrealized,
        open_positions=totals.open_positions - 1,
        unmarked=totals.unmarked - (position.mark_price is None),
        open_shorts=totals.open_shorts - (not buy),
    )


def on_shorted_underlyings(positions: Sequence[PositionRecord]) -> list[PositionRecord]:
    """The open positions on the underlyings where one of them is short (the rest block no
    margin)."""
    shorted = {p.underlying for p in positions if p.side == Side.SELL and p.quantity_open > 0}
    return [p for p in positions if p.underlying in shorted and p.quantity_open > 0]


def _capital(totals: AccountTotals) -> Decimal:
    return default_capital() if totals.capital is None else totals.capital


async def equity_history(
    repository: Repository, account: str, start: date | None, end: date | None
) -> list[EquityRecord]:
    if start is not None and end is not None and end < start:
        raise InvalidInput("to", "must not be before from")
    return await repository.equity_snapshots(account, start, end)


async def snapshot_equity(repository: Repository, now: datetime) -> int:
    """Store every account's page as the snapshot of today's 15:30 IST close (once per account
    and day; a second call that day stores nothing). Answers how many it stored."""
    day = now.astimezone(IST).date()
    stored = 0
    for account in await repository.account_names():
        page = await account_page(repository, account)
        stored += await repository.add_equity_snapshot(
            {
                "account": account,
                "day": day,
                "taken_at": now,
                "capital": page.capital,
                "cash": page.cash,
                "used_margin": page.used_margin,
                "available": page.available,
                "realized": page.realized,
                "unrealized": page.unrealized,
                "charges": page.charges,
                "equity": page.equity,
            }  # fmt: skip
        )
    return stored
