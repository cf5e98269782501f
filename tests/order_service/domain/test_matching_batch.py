"""The numpy batch evaluator agrees with the scalar rules, row by row, on random books."""

from __future__ import annotations

import random
from decimal import Decimal

from optrade.domain import Side
from optrade.domain.vocabulary import OrderStatus, OrderType
from order_service.domain.batch import (
    SOURCES,
    Book,
    BookRow,
    ChainQuotes,
    Kind,
    evaluate,
    to_paise,
)
from order_service.domain.exits import ExitWatch, PositionExits, evaluate_exits
from order_service.domain.matching import Observation, match
from order_service.domain.orders import OrderTerms, PendingOrder
from tests.order_service.domain.support import at, obs

TICK = Decimal("0.05")


def scalar(row: BookRow, observation: Observation) -> tuple[bool, int, str | None, int]:
    """(fired, price in paise, source, trailing best in paise) by the scalar rules."""
    if row.kind == Kind.TRAIL:
        # A trailing-stop row carries the exit's closing side: the position faces the other way.
        exits = PositionExits(trailing_stop=row.level)
        check = evaluate_exits(ExitWatch(row.side.closing, exits, trail_best=row.best), observation)
        fill = check.exit.fill if check.exit else None
        best = to_paise(check.trail_best)
    else:
        order_type, status = (
            (OrderType.LIMIT, OrderStatus.OPEN)
            if row.kind == Kind.LIMIT
            else (OrderType.SL_M, OrderStatus.TRIGGER_PENDING)
        )
        price = row.level if row.kind == Kind.LIMIT else None
        trigger = row.level if row.kind == Kind.STOP else None
        terms = OrderTerms(row.side, order_type, price, trigger)
        fill = match(PendingOrder(terms, status), observation, on_arrival=False).fill
        best = to_paise(row.best)
    if fill is None:
        return False, 0, None, best
    return True, to_paise(fill.price), str(fill.source), best


def random_price(rng: random.Random, empty_rate: float = 0.15) -> Decimal | None:
    return None if rng.random() < empty_rate else rng.randint(1, 60) * TICK


def test_batch_agrees_with_the_scalar_rules_on_random_books() -> None:
    rng = random.Random(20251202)
    for _ in range(60):
        chain = [
            Observation(at(10, 0), random_price(rng), random_price(rng), random_price(rng))
            for _ in range(8)
        ]
        rows = [
            BookRow(
                contract=rng.randrange(len(chain)),
                side=rng.choice(list(Side)),
                kind=(kind := rng.choice(list(Kind))),
                level=rng.randint(1, 10 if kind == Kind.TRAIL else 60) * TICK,
                best=random_price(rng, 0.2) if kind == Kind.TRAIL else None,
            )
            for _ in range(200)
        ]
        result = evaluate(Book.of(rows), ChainQuotes.of(chain))
        for i, row in enumerate(rows):
            fired, price, source, best = scalar(row, chain[row.contract])
            assert bool(result.fired[i]) == fired, (row, chain[row.contract])
            assert int(result.best[i]) == best, (row, chain[row.contract])
            if fired:
                assert int(result.price[i]) == price, (row, chain[row.contract])
                assert SOURCES[result.source[i]] == source, (row, chain[row.contract])


def test_batch_fires_a_limit_at_its_price_and_a_stop_at_the_gapped_bid() -> None:
    chain = ChainQuotes.of([obs("61.5", "61.2", "61.8"), None])
    rows = [
        BookRow(0, Side.BUY, Kind.LIMIT, Decimal("65")),  # ask 61.80 <= 65: fills at 65
        BookRow(0, Side.SELL, Kind.STOP, Decimal("80")),  # LTP 61.50 <= 80: fills at the bid
        BookRow(0, Side.SELL, Kind.LIMIT, Decimal("62")),  # bid 61.20 < 62: rests
        BookRow(1, Side.BUY, Kind.LIMIT, Decimal("65")),  # no quote: skipped
        BookRow(0, Side.SELL, Kind.TRAIL, Decimal("10"), best=Decimal("75")),  # stop 65: fires
    ]
    result = evaluate(Book.of(rows), chain)
    assert result.fired.tolist() == [True, True, False, False, True]
    assert result.price[[0, 1, 4]].tolist() == [6500, 6120, 6120]
    assert [SOURCES[s] for s in result.source[[0, 1, 4]]] == ["limit", "bid", "bid"]
    assert result.best[4] == 7500  # a long's best never falls
