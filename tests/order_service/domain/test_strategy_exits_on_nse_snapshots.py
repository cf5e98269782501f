"""Strategy exits on the real NSE snapshots, held against `tests.support.raw_nse` and by hand."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from optrade.domain import Side
from optrade.domain.vocabulary import Product
from order_service.domain.exits import square_off_instant
from order_service.domain.matching import Observation, Rejection
from order_service.domain.strategy_exits import (
    StrategyExit,
    StrategyExits,
    StrategyLeg,
    evaluate_strategy_exits,
)
from tests.conftest import NSE_SNAPSHOT_DIR, SHARED_DATA
from tests.support.raw_nse import (
    ExpectedStrategyExit,
    RawLeg,
    RawSnapshot,
    expected_strategy_exit,
    read_snapshot,
    snapshot_files,
)

DEC_02, DEC_09 = date(2025, 12, 2), date(2025, 12, 9)


def domain_exit(
    snapshots: list[RawSnapshot], legs: list[RawLeg], exits: StrategyExits
) -> ExpectedStrategyExit | Rejection | None:
    """The strategy exit the domain gives, opened on the first snapshot with `exits` set then
    (or why it refuses them there)."""
    ordered = sorted(snapshots, key=lambda s: s.instant)
    domain_legs = [
        StrategyLeg(leg.contract, Side(leg.side), leg.entry_price, leg.units) for leg in legs
    ]
    square_off = square_off_instant(Product.MIS, ordered[0].instant)
    for index, snapshot in enumerate(ordered):
        quotes = {
            leg.contract: Observation(snapshot.instant, q.ltp, q.bid, q.ask)
            for leg in legs
            if (q := snapshot.quotes.get(leg.contract)) is not None
        }
        result = evaluate_strategy_exits(
            domain_legs,
            exits,
            quotes,
            instant=snapshot.instant,
            square_off_at=square_off,
            on_arrival=index == 0,
        )
        if isinstance(result, StrategyExit):
            prices = tuple(fill.price for fill in result.fills)
            return ExpectedStrategyExit(
                index, snapshot.instant, result.reason.value, prices, result.pnl
            )
        if isinstance(result, Rejection):
            return result
    return None


@pytest.fixture(scope="module")
def dec_02() -> list[RawSnapshot]:
    return [read_snapshot(path) for path in snapshot_files(NSE_SNAPSHOT_DIR, DEC_02)]


def leg(strike: str, option_type: str, side: str, entry: str) -> RawLeg:
    return RawLeg((DEC_09, Decimal(strike), option_type), side, Decimal(entry), 75)


def test_short_puts_stop_on_the_first_snapshot_at_or_below_the_stop(
    dec_02: list[RawSnapshot],
) -> None:
    # Sold at the 09:34:45 bids 114.65 and 159.10. At 15:13:29 the mids are 134.025 and 186.925:
    # -19.375 x 75 - 27.825 x 75 = -3540 <= -3000; both close at the asks 134.15 and 187.10.
    legs = [leg("26100", "PE", "SELL", "114.65"), leg("26200", "PE", "SELL", "159.1")]
    exits = StrategyExits(stop_loss_pnl=Decimal("-3000"), target_pnl=Decimal("5000"))
    raw = expected_strategy_exit(
        dec_02,
        legs,
        stop_loss_pnl=exits.stop_loss_pnl,
        target_pnl=exits.target_pnl,
        square_off_at=square_off_instant(Product.MIS, dec_02[0].instant),
    )
    assert raw is not None
    assert (raw.index, raw.reason, raw.prices, raw.pnl) == (
        1,
        "stop_loss",
        (Decimal("134.15"), Decimal("187.1")),
        Decimal("-3540"),
    )
    domain = domain_exit(dec_02, legs, exits)
    assert domain == ExpectedStrategyExit(
        raw.index, raw.instant, raw.reason, raw.prices, Decimal("-3540.00")
    )


def test_short_straddle_takes_its_target(dec_02: list[RawSnapshot]) -> None:
    # Sold at 196 (CE) and 114.65 (PE); at 15:13:29 the mids 143.20 and 134.025 give
    # 52.80 x 75 - 19.375 x 75 = 2506.875 >= 2000: closed at the asks 143.35 and 134.15.
    legs = [leg("26100", "CE", "SELL", "196"), leg("26100", "PE", "SELL", "114.65")]
    raw = expected_strategy_exit(
        dec_02, legs, stop_loss_pnl=Decimal("-3000"), target_pnl=Decimal("2000")
    )
    assert raw is not None
    assert (raw.index, raw.reason, raw.prices, raw.pnl) == (
        1,
        "target",
        (Decimal("143.35"), Decimal("134.15")),
        Decimal("2506.875"),
    )
    domain = domain_exit(dec_02, legs, StrategyExits(Decimal("-3000"), Decimal("2000")))
    assert isinstance(domain, ExpectedStrategyExit)
    assert (domain.index, domain.reason, domain.prices) == (
        raw.index,
        raw.reason,
        raw.prices,
    )


@pytest.mark.parametrize("day", [date(2025, 10, 20), date(2025, 11, 4), date(2025, 11, 19)])
def test_domain_strategy_exits_agree_with_the_raw_files(day: date) -> None:
    snapshots = sorted(
        (read_snapshot(p) for p in snapshot_files(SHARED_DATA / "nse" / "history", day)),
        key=lambda s: s.instant,
    )
    first = snapshots[0]
    expiry = min(contract[0] for contract in first.quotes)
    strikes = sorted({c[1] for c in first.quotes if c[0] == expiry})
    compared = 0
    for strike in strikes[len(strikes) // 2 - 10 : len(strikes) // 2 + 10]:
        ce, pe = first.quotes.get((expiry, strike, "CE")), first.quotes.get((expiry, strike, "PE"))
        if ce is None or pe is None or ce.bid is None or pe.bid is None:
            continue
        legs = [
            RawLeg((expiry, strike, "CE"), "SELL", ce.bid, 75),
            RawLeg((expiry, strike, "PE"), "SELL", pe.bid, 75),
        ]
        for stop, target in (
            (Decimal("-500"), Decimal("500")),
            (Decimal("-2000"), Decimal("1500")),
        ):
            raw = expected_strategy_exit(
                snapshots,
                legs,
                stop_loss_pnl=stop,
                target_pnl=target,
                square_off_at=square_off_instant(Product.MIS, first.instant),
            )
            domain = domain_exit(snapshots, legs, StrategyExits(stop, target))
            if isinstance(domain, Rejection):  # the spread alone was past the stop: refused
                assert domain.field == "stop_loss_pnl"
                continue
            if raw is None:
                assert domain is None
                continue
            assert isinstance(domain, ExpectedStrategyExit), (strike, stop, target)
            assert (domain.index, domain.reason, domain.prices) == (
                raw.index,
                raw.reason,
                raw.prices,
            )
            assert domain.pnl == raw.pnl.quantize(Decimal("0.01"))
            compared += 1
    assert compared >= 10
