"""Paper fills from a captured quote, and P&L, in rupees on the 0.05 tick."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from optrade.domain import Side
from optrade.errors import Conflict, InvalidInput
from optrade.schemas.market import OptionQuote

TICK = Decimal("0.05")
PAISA = Decimal("0.01")


class Unfillable(Conflict):
    """The quote has no bid, ask or last price to fill at."""

    type = "unfillable"


@dataclass(frozen=True)
class Fill:
    price: Decimal
    source: str  # ask | bid | ltp | client
    spread: Decimal | None  # ask - bid of the quote, when it has both


def to_tick(value: float | Decimal) -> Decimal:
    """Round a price to the nearest 0.05 tick (half up)."""
    ticks = (Decimal(str(value)) / TICK).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return (ticks * TICK).quantize(PAISA)


def spread_of(quote: OptionQuote) -> Decimal | None:
    if quote.bid is None or quote.ask is None or quote.bid <= 0 or quote.ask <= 0:
        return None
    return to_tick(quote.ask) - to_tick(quote.bid)


def quote_fill(quote: OptionQuote, action: Side) -> Fill:
    """BUY at the ask, SELL at the bid; the last price where that side is empty (None or 0)."""
    side_name, side_price = ("ask", quote.ask) if action == Side.BUY else ("bid", quote.bid)
    if side_price is not None and side_price > 0:
        return Fill(to_tick(side_price), side_name, spread_of(quote))
    if quote.ltp is not None and quote.ltp > 0:
        return Fill(to_tick(quote.ltp), "ltp", spread_of(quote))
    raise Unfillable(
        f"no {side_name} and no last price for {quote.underlying} {quote.expiry} "
        f"{quote.strike:g} {quote.option_type} at {quote.as_of.isoformat()}: nothing to fill at"
    )


def client_fill(price: Decimal, quote: OptionQuote | None) -> Fill:
    """A fill at the client's price; the quote, when there is one, still gives the spread."""
    return Fill(to_tick(price), "client", spread_of(quote) if quote else None)


@dataclass(frozen=True)
class ClientPriceBounds:
    """How far a client's exit price may stray: from a captured quote, or from the entry."""

    ticks: int  # tolerance floor, in 0.05 ticks
    percent: Decimal  # tolerance as a percent of the quote's mid
    max_entry_multiple: Decimal  # with no quote: the price must stay below entry × this

    def tolerance(self, mid: Decimal) -> Decimal:
        return max(self.ticks * TICK, to_tick(mid * self.percent / 100))


def _quote_range(quote: OptionQuote) -> tuple[Decimal, Decimal] | None:
    """(low, high) of the quote: bid and ask, the last price standing in for a missing side."""
    ltp = to_tick(quote.ltp) if quote.ltp is not None and quote.ltp > 0 else None
    bid = to_tick(quote.bid) if quote.bid is not None and quote.bid > 0 else ltp
    ask = to_tick(quote.ask) if quote.ask is not None and quote.ask > 0 else ltp
    if bid is None or ask is None:
        return None
    return bid, ask


def check_client_price(
    price: Decimal,
    quote: OptionQuote | None,
    entry: Decimal,
    bounds: ClientPriceBounds,
    *,
    closing: Side | None = None,
) -> None:
    """Refuse a client exit price outside the captured quote, or, with no quote to compare, one
    that is not positive or not below `max_entry_multiple` × the entry price.

    With the closing action known (`closing`), the price may not be better than the market's
    far side: a SELL at most the ask, a BUY (closing a short) at least the bid; the tolerance
    widens only the unfavourable side (a SELL down to bid − tolerance, a BUY up to ask +
    tolerance). Without it, both sides are widened by the tolerance (callers that do not say
    which way they close)."""
    quoted = _quote_range(quote) if quote is not None else None
    if quoted is None:
        ceiling = (entry * bounds.max_entry_multiple).quantize(PAISA)
        if price <= 0 or price >= ceiling:
            raise InvalidInput(
                "exit_price",
                f"{price} must be positive and below {bounds.max_entry_multiple} × the entry "
                f"price {entry} ({ceiling}) when no quote could be captured",
            )
        return
    bid, ask = quoted
    tolerance = bounds.tolerance((bid + ask) / 2)
    low, high = max(bid - tolerance, Decimal(0)), ask + tolerance
    if closing is Side.SELL:
        high = ask  # selling above the ask: no buyer pays more than the offer
    elif closing is Side.BUY:
        low = bid  # buying back below the bid: no seller takes less than the bid
    if not low <= price <= high:
        side = f" for a {closing.value}" if closing is not None else ""
        raise InvalidInput(
            "exit_price",
            f"{price} is outside the captured quote{side}: bid {bid}, ask {ask}, tolerance "
            f"{tolerance} (accepted {low} to {high}); leave exit_price out to fill at the quote",
        )


def closing_action(position_side: str) -> Side:
    """A long position closes by selling, a short one by buying."""
    return Side(position_side).closing


def pnl(*, side: str, entry: Decimal, exit_: Decimal, lots: int, lot_size: int) -> Decimal:
    """Rupees: price difference × lots × lot size, positive when a long rose or a short fell."""
    return ((exit_ - entry) * lots * lot_size * Side(side).sign).quantize(PAISA)
