"""The exit and matching rules on the real NSE snapshots, held against `tests.support.raw_nse`
(plain loops over the raw files, written apart from the domain) and against prices read by hand."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal

import pytest

from optrade.domain import IST, Side
from optrade.domain.vocabulary import OrderStatus, OrderType, Product
from order_service.domain.exits import (
    ExitWatch,
    PositionExits,
    evaluate_exits,
    square_off_instant,
)
from order_service.domain.matching import Observation, match
from order_service.domain.orders import OrderTerms, PendingOrder, day_expiry
from tests.conftest import NSE_SNAPSHOT_DIR, SHARED_DATA
from tests.support.raw_nse import (
    ExpectedExit,
    RawQuote,
    RawSnapshot,
    expected_exit,
    quotes_of,
    read_snapshot,
    snapshot_files,
)

DEC_02 = date(2025, 12, 2)
DEC_09 = date(2025, 12, 9)  # the next weekly expiry: the 02-Dec one expires that very day
HISTORY_DIR = SHARED_DATA / "nse" / "history"


def ist(day: date, hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=IST)


@pytest.fixture(scope="module")
def dec_02() -> list[RawSnapshot]:
    return [read_snapshot(path) for path in snapshot_files(NSE_SNAPSHOT_DIR, DEC_02)]


def observations(quotes: list[RawQuote]) -> list[Observation]:
    return [Observation(q.instant, q.ltp, q.bid, q.ask) for q in quotes]


def domain_exit(side: Side, exits: PositionExits, quotes: list[RawQuote]) -> ExpectedExit | None:
    """The exit the domain gives a position opened on quotes[0] with `exits` set then."""
    watch = ExitWatch(side, exits, square_off_instant(Product.MIS, quotes[0].instant))
    for index, observation in enumerate(observations(quotes)):
        check = evaluate_exits(watch, observation, on_arrival=index == 0)
        assert check.rejection is None
        if check.exit is not None:
            fill = check.exit.fill
            return ExpectedExit(index, observation.instant, fill.price, check.exit.reason.value)
        watch = replace(watch, trail_best=check.trail_best)
    return None


def test_raw_snapshot_gives_the_legs_and_the_ist_instant(dec_02: list[RawSnapshot]) -> None:
    assert [s.instant for s in dec_02] == [
        ist(DEC_02, 9, 34, 45),
        ist(DEC_02, 15, 13, 29),
        ist(DEC_02, 15, 30),
    ]
    morning = dec_02[0].quotes[(DEC_09, Decimal("26100"), "CE")]
    assert (morning.ltp, morning.bid, morning.ask) == (
        Decimal("196.8"),
        Decimal("196"),
        Decimal("196.5"),
    )


def test_zero_prices_in_the_raw_file_are_empty(dec_02: list[RawSnapshot]) -> None:
    # 23750 CE of 02-Dec: lastPrice 0 (no trade), bid 2369.60, ask 2463.30.
    deep = dec_02[0].quotes[(DEC_02, Decimal("23750"), "CE")]
    assert (deep.ltp, deep.bid, deep.ask) == (None, Decimal("2369.6"), Decimal("2463.3"))


@pytest.mark.parametrize(
    ("strike", "option_type", "exits", "expected"),
    [
        # Bought at the 09:34:45 ask 196.50; at 15:13:29 the LTP 143 is below the stop 150:
        # the stop fills at that snapshot's bid, 143.05.
        ("26100", "CE", PositionExits(Decimal("150"), Decimal("260")), (1, "stop_loss", "143.05")),
        # Bought at 114.95; at 15:13:29 the bid 133.90 reaches the target 130: filled at 130.
        ("26100", "PE", PositionExits(Decimal("90"), Decimal("130")), (1, "target", "130")),
        # Bought at 79.75; neither 60 nor 120 is reached by 15:13:29 (LTP 92, bid 92.05), so the
        # first snapshot from 15:15, the 15:30:00 one, squares it off at its bid 85.20.
        ("26000", "PE", PositionExits(Decimal("60"), Decimal("120")), (2, "square_off", "85.2")),
        # A trailing stop of 40 points from the 09:34:45 LTP 196.80 sits at 156.80; LTP 143.
        ("26100", "CE", PositionExits(trailing_stop=Decimal("40")), (1, "trailing_stop", "143.05")),
    ],
)
def test_a_morning_buy_mis_exits_where_the_raw_files_say(
    dec_02: list[RawSnapshot],
    strike: str,
    option_type: str,
    exits: PositionExits,
    expected: tuple[int, str, str],
) -> None:
    quotes = quotes_of(dec_02, (DEC_09, Decimal(strike), option_type))
    square_off = square_off_instant(Product.MIS, quotes[0].instant)
    raw = expected_exit(
        quotes,
        side="BUY",
        stop_loss=exits.stop_loss,
        target=exits.target,
        trailing_stop=exits.trailing_stop,
        square_off_at=square_off,
    )
    index, reason, price = expected
    assert raw == ExpectedExit(index, quotes[index].instant, Decimal(price), reason)
    assert domain_exit(Side.BUY, exits, quotes) == raw


def resting_limit(
    dec_02: list[RawSnapshot], strike: str, price: str
) -> list[tuple[OrderStatus, Decimal | None]]:
    quotes = observations(quotes_of(dec_02, (DEC_09, Decimal(strike), "CE")))
    order = PendingOrder(
        OrderTerms(Side.BUY, OrderType.LIMIT, Decimal(price)),
        OrderStatus.OPEN,
        expires_at=day_expiry(quotes[0].instant),
    )
    steps = []
    for index, quote in enumerate(quotes):
        result = match(order, quote, on_arrival=index == 0)
        steps.append((result.status, result.fill.price if result.fill else None))
        if result.status != OrderStatus.OPEN:
            break
    return steps


def test_a_resting_limit_fills_at_its_price_on_the_real_snapshots(
    dec_02: list[RawSnapshot],
) -> None:
    # 26200 CE: ask 140.55 at 09:34:45 (rests), 96.90 at 15:13:29 (<= 100: fills at 100).
    assert resting_limit(dec_02, "26200", "100") == [
        (OrderStatus.OPEN, None),
        (OrderStatus.COMPLETE, Decimal("100")),
    ]


def test_a_resting_limit_expires_at_1530_on_the_real_snapshots(dec_02: list[RawSnapshot]) -> None:
    # 26100 CE: ask 196.50, then 143.35: never at or below 140; the 15:30:00 snapshot expires it.
    assert resting_limit(dec_02, "26100", "140") == [
        (OrderStatus.OPEN, None),
        (OrderStatus.OPEN, None),
        (OrderStatus.EXPIRED, None),
    ]


@pytest.mark.parametrize("day", [date(2025, 10, 20), date(2025, 11, 4), date(2025, 11, 19)])
def test_domain_exits_agree_with_the_raw_files_over_a_history_day(day: date) -> None:
    snapshots = [read_snapshot(path) for path in snapshot_files(HISTORY_DIR, day)]
    assert len(snapshots) >= 5
    first = min(snapshots, key=lambda s: s.instant)
    expiry = min(contract[0] for contract in first.quotes)
    spot_strikes = sorted({c[1] for c in first.quotes if c[0] == expiry})
    middle = len(spot_strikes) // 2
    rng = random.Random(day.toordinal())
    fired = 0
    for strike in spot_strikes[middle - 15 : middle + 15]:
        for option_type in ("CE", "PE"):
            quotes = quotes_of(snapshots, (expiry, strike, option_type))
            if len(quotes) < 3 or quotes[0].ltp is None:
                continue
            side = rng.choice(["BUY", "SELL"])
            entry = quotes[0].ltp
            width = entry * Decimal(rng.choice(["0.05", "0.1", "0.2", "0.4"]))
            stop = (entry - width if side == "BUY" else entry + width).quantize(Decimal("0.05"))
            target = (entry + width if side == "BUY" else entry - width).quantize(Decimal("0.05"))
            trail = width.quantize(Decimal("0.05")) if rng.random() < 0.5 else None
            if stop <= 0 or target <= 0:
                continue
            exits = PositionExits(stop, target, trail)
            raw = expected_exit(
                quotes,
                side=side,
                stop_loss=stop,
                target=target,
                trailing_stop=trail,
                square_off_at=square_off_instant(Product.MIS, quotes[0].instant),
            )
            assert domain_exit(Side(side), exits, quotes) == raw, (strike, option_type, side, exits)
            fired += raw is not None
    assert fired >= 10  # the comparison saw real exits, not only positions left open
