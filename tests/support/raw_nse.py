"""Raw NSE option-chain snapshots read straight from the files, and the exit the matching rules
give on them, computed with plain loops apart from `order_service.domain`, so that tests can hold
the engine (and the domain) against the raw files.

A snapshot (`.json` or `.json.gz`, NSE's `option-chain-indices` answer) gives, per (expiry, strike,
CE/PE), the last price `lastPrice`, the bid `bidprice` (v3: `buyPrice1`) and the ask `askPrice`
(v3: `sellPrice1`); zero is an empty side. Its instant is `records.timestamp`, in IST.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from optrade.domain import IST

Contract = tuple[date, Decimal, str]  # (expiry, strike, "CE" | "PE")


@dataclass(frozen=True)
class RawQuote:
    instant: datetime
    ltp: Decimal | None
    bid: Decimal | None
    ask: Decimal | None


@dataclass(frozen=True)
class RawSnapshot:
    instant: datetime
    quotes: dict[Contract, RawQuote]


@dataclass(frozen=True)
class ExpectedExit:
    index: int  # into the list of quotes given
    instant: datetime
    price: Decimal
    reason: str  # stop_loss | trailing_stop | target | time_exit | square_off


def _price(leg: dict[str, Any], *names: str) -> Decimal | None:
    for name in names:
        value = leg.get(name)
        if value is not None:
            return Decimal(str(value)) if value > 0 else None
    return None


def _expiry(text: str) -> date:
    for layout in ("%d-%b-%Y", "%d-%m-%Y"):
        try:
            return datetime.strptime(text, layout).date()
        except ValueError:
            continue
    raise ValueError(f"unknown expiry date {text!r}")


def read_snapshot(path: Path) -> RawSnapshot:
    """Every leg of one snapshot file, by (expiry, strike, CE/PE)."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as handle:
        records = json.load(handle)["records"]
    instant = datetime.strptime(records["timestamp"], "%d-%b-%Y %H:%M:%S").replace(tzinfo=IST)
    quotes: dict[Contract, RawQuote] = {}
    for row in records["data"]:
        expiry = _expiry(row.get("expiryDate") or row["expiryDates"])
        for option_type in ("CE", "PE"):
            leg = row.get(option_type)
            if not leg:
                continue
            quotes[(expiry, Decimal(str(row["strikePrice"])), option_type)] = RawQuote(
                instant,
                _price(leg, "lastPrice"),
                _price(leg, "bidprice", "buyPrice1"),
                _price(leg, "askPrice", "sellPrice1"),
            )
    return RawSnapshot(instant, quotes)


def snapshot_files(directory: Path, day: date | None = None) -> list[Path]:
    """The snapshot files under `directory` (recursively), of one IST day when given."""
    files = sorted(directory.rglob("*.json")) + sorted(directory.rglob("*.json.gz"))
    if day is not None:
        files = [f for f in files if f"_{day.isoformat()}_" in f.name]
    return files


def quotes_of(snapshots: list[RawSnapshot], contract: Contract) -> list[RawQuote]:
    """The contract's quotes in time order; snapshots without a price for it are left out."""
    ordered = sorted(snapshots, key=lambda s: s.instant)
    found = [s.quotes.get(contract) for s in ordered]
    return [q for q in found if q is not None and (q.ltp or q.bid or q.ask)]


def _closing_price(quote: RawQuote, long: bool) -> Decimal | None:
    """A long closes by selling at the bid, a short by buying at the ask; the LTP stands in."""
    side = quote.bid if long else quote.ask
    return side if side is not None else quote.ltp


def expected_exit(
    quotes: list[RawQuote],
    *,
    side: str,
    stop_loss: Decimal | None = None,
    target: Decimal | None = None,
    trailing_stop: Decimal | None = None,
    exit_at: datetime | None = None,
    square_off_at: datetime | None = None,
) -> ExpectedExit | None:
    """The exit of a position opened on quotes[0] (exits set then), by the rules of
    docs/matching.md: from quotes[1] on, stop-loss, trailing stop, target, exit_at, square-off."""
    long = side == "BUY"
    best = quotes[0].ltp if quotes else None
    for index in range(1, len(quotes)):
        quote = quotes[index]
        if quote.ltp is not None and best is None:
            best = quote.ltp
        elif quote.ltp is not None and best is not None:
            best = max(best, quote.ltp) if long else min(best, quote.ltp)
        close = _closing_price(quote, long)
        if close is None:
            continue
        seen = quote.ltp if quote.ltp is not None else close  # what a stop compares
        stops = [("stop_loss", stop_loss)]
        if trailing_stop is not None and best is not None:
            stops.append(("trailing_stop", best - trailing_stop if long else best + trailing_stop))
        for reason, level in stops:
            if level is not None and (seen <= level if long else seen >= level):
                return ExpectedExit(index, quote.instant, close, reason)
        if target is not None and (close >= target if long else close <= target):
            return ExpectedExit(index, quote.instant, target, "target")
        if exit_at is not None and quote.instant >= exit_at:
            return ExpectedExit(index, quote.instant, close, "time_exit")
        if square_off_at is not None and quote.instant >= square_off_at:
            return ExpectedExit(index, quote.instant, close, "square_off")
    return None


@dataclass(frozen=True)
class RawLeg:
    contract: Contract
    side: str  # BUY | SELL
    entry_price: Decimal
    units: int


@dataclass(frozen=True)
class ExpectedStrategyExit:
    index: int  # into the time-ordered snapshots given
    instant: datetime
    reason: str  # stop_loss | target | time_exit | square_off
    prices: tuple[Decimal, ...]  # one per leg
    pnl: Decimal  # at the mids, on that snapshot


def _mark(quote: RawQuote) -> Decimal | None:
    if quote.bid is not None and quote.ask is not None:
        return (quote.bid + quote.ask) / 2
    return quote.ltp or quote.bid or quote.ask


def expected_strategy_exit(
    snapshots: list[RawSnapshot],
    legs: list[RawLeg],
    *,
    stop_loss_pnl: Decimal | None = None,
    target_pnl: Decimal | None = None,
    exit_at: datetime | None = None,
    square_off_at: datetime | None = None,
) -> ExpectedStrategyExit | None:
    """The exit of a strategy opened on the first snapshot (exits set then): from the second on,
    the first whose P&L at the mids reaches the stop or the target, or whose instant reaches
    exit_at or square-off; every leg closes there at its bid (long) or ask (short)."""
    ordered = sorted(snapshots, key=lambda s: s.instant)
    for index in range(1, len(ordered)):
        snapshot = ordered[index]
        pnl, prices = Decimal(0), []
        for leg in legs:
            quote = snapshot.quotes.get(leg.contract)
            mark = _mark(quote) if quote is not None else None
            price = _closing_price(quote, leg.side == "BUY") if quote is not None else None
            if mark is None or price is None:
                break
            pnl += (mark - leg.entry_price) * leg.units * (1 if leg.side == "BUY" else -1)
            prices.append(price)
        else:
            reason = None
            if stop_loss_pnl is not None and pnl <= stop_loss_pnl:
                reason = "stop_loss"
            elif target_pnl is not None and pnl >= target_pnl:
                reason = "target"
            elif exit_at is not None and snapshot.instant >= exit_at:
                reason = "time_exit"
            elif square_off_at is not None and snapshot.instant >= square_off_at:
                reason = "square_off"
            if reason is not None:
                return ExpectedStrategyExit(index, snapshot.instant, reason, tuple(prices), pnl)
    return None
