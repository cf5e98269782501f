"""Benchmark: one chain observation evaluated against 10,000 pending orders and exits (issue 21).

The chain: 100 strikes x CE/PE (200 contracts), quoted on the 0.05 tick with a spread of one to
four ticks and an LTP inside it; a fresh random chain for every run, as each engine poll brings
one, each price within 3 % of the contract's. The book: 10,000 rows spread over the chain, a third
each resting LIMITs (or targets), SL-Ms (or stop-losses) and trailing stops, placed 1-20 % away
from the price on the side that waits, so that a few per cent fire on each observation.

Measured in one process, interleaved:
* the engine's path, `order_service.domain.batch`: the chain's observations to paise arrays, the
  batch evaluation of every row, then the scalar rules (`match`, `evaluate_exits`) on the rows that
  fired, as the engine settles them; the goal is <= 20 ms;
* for reference, the scalar rules alone on every row (a few runs: it is far slower).

Run: ``uv run python -m bench`` with ``BENCH=matching``; ``BENCH_QUICK=1`` runs fewer rounds.
"""

from __future__ import annotations

import gc
import os
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from bench.stats import figure
from optrade.domain import Side
from optrade.domain.vocabulary import OrderStatus, OrderType
from order_service.domain.batch import Book, BookRow, ChainQuotes, Kind, evaluate
from order_service.domain.exits import ExitWatch, PositionExits, evaluate_exits
from order_service.domain.matching import Observation, match
from order_service.domain.orders import OrderTerms, PendingOrder

QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
CONTRACTS = 200
ROWS = 10_000
GOAL_MS = 20.0
TICK = Decimal("0.05")
AT = datetime(2025, 12, 2, 5, 0, tzinfo=UTC)


def _ticks(value: float) -> Decimal:
    return max(round(value / 0.05), 1) * TICK


def _chain(rng: random.Random, centres: list[float]) -> list[Observation]:
    chain = []
    for centre in centres:
        bid = _ticks(centre * rng.uniform(0.97, 1.03))
        ask = bid + rng.randint(1, 4) * TICK
        ltp = bid + rng.randint(0, int((ask - bid) / TICK)) * TICK
        chain.append(Observation(AT, ltp, bid, ask))
    return chain


@dataclass(frozen=True)
class Pending:
    """One row as the engine would hold it: the batch row and its scalar twin."""

    row: BookRow
    twin: PendingOrder | ExitWatch


def _pending(rng: random.Random, centres: list[float]) -> list[Pending]:
    book = []
    for _ in range(ROWS):
        contract, side, kind = (
            rng.randrange(CONTRACTS),
            rng.choice(list(Side)),
            rng.choice(list(Kind)),
        )
        centre = centres[contract]
        # Placed away from the price on the side that waits: a BUY LIMIT or a SELL stop below
        # it, a SELL LIMIT or a BUY stop above it.
        below = (side == Side.BUY) == (kind == Kind.LIMIT)
        away = rng.uniform(0.01, 0.2)
        if kind == Kind.TRAIL:
            level, best = _ticks(centre * rng.uniform(0.02, 0.2)), _ticks(centre)
            twin: PendingOrder | ExitWatch = ExitWatch(
                side.closing, PositionExits(trailing_stop=level), trail_best=best
            )
        else:
            level, best = _ticks(centre * (1 - away if below else 1 + away)), None
            order_type = OrderType.LIMIT if kind == Kind.LIMIT else OrderType.SL_M
            terms = (
                OrderTerms(side, order_type, price=level)
                if kind == Kind.LIMIT
                else OrderTerms(side, order_type, trigger_price=level)
            )
            status = OrderStatus.OPEN if kind == Kind.LIMIT else OrderStatus.TRIGGER_PENDING
            twin = PendingOrder(terms, status)
        book.append(Pending(BookRow(contract, side, kind, level, best), twin))
    return book


def _scalar(pending: Pending, observation: Observation) -> bool:
    if isinstance(pending.twin, ExitWatch):
        return evaluate_exits(pending.twin, observation).exit is not None
    return match(pending.twin, observation, on_arrival=False).fill is not None


def _engine_path(book: Book, pending: list[Pending], chain: list[Observation]) -> tuple[float, int]:
    t0 = time.perf_counter()
    result = evaluate(book, ChainQuotes.of(chain))
    fired = result.fired.nonzero()[0]
    for i in fired.tolist():  # the engine settles what fired with the scalar rules
        row = pending[i]
        _scalar(row, chain[row.row.contract])
    return (time.perf_counter() - t0) * 1000, int(fired.size)


def _scalar_only(pending: list[Pending], chain: list[Observation]) -> float:
    t0 = time.perf_counter()
    for row in pending:
        _scalar(row, chain[row.row.contract])
    return (time.perf_counter() - t0) * 1000


def run() -> list[dict[str, Any]]:
    """Measure and return the figures (milliseconds per chain observation)."""
    rng = random.Random(21)
    centres = [rng.uniform(5, 400) for _ in range(CONTRACTS)]
    pending = _pending(rng, centres)
    book = Book.of([p.row for p in pending])
    runs, scalar_runs = (40, 2) if QUICK else (300, 8)
    chains = [_chain(rng, centres) for _ in range(runs)]
    for chain in chains[:5]:  # warm-up: numpy dispatch, the code paths
        _engine_path(book, pending, chain)
    engine, fired, scalar = [], [], []
    per_block = runs // scalar_runs
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for index, chain in enumerate(chains):
            elapsed, count = _engine_path(book, pending, chain)
            engine.append(elapsed)
            fired.append(count)
            if index % per_block == 0 and len(scalar) < scalar_runs:
                scalar.append(_scalar_only(pending, chain))
    finally:
        if gc_was_enabled:
            gc.enable()
    median = sorted(engine)[len(engine) // 2]
    what = f"one chain observation ({CONTRACTS} contracts) vs {ROWS:,} pending orders and exits"
    return [
        figure(
            f"{what}: batch + scalar settling of the rows that fired",
            "ms",
            engine,
            goal=f"<= {GOAL_MS:g} ms",
            goal_met=median <= GOAL_MS,
            rows_fired_median=sorted(fired)[len(fired) // 2],
        ),
        figure(f"{what}: the scalar rules on every row (reference)", "ms", scalar),
    ]


if __name__ == "__main__":
    for result in run():
        print(result)
