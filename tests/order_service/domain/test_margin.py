"""The SPAN-like margin: published broker figures, real NSE chains, and each rule by hand."""

from __future__ import annotations

import gzip
import json
import math
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from optrade.domain import IST, OptionType
from optrade.errors import InvalidInput
from order_service.domain.margin import (
    MarketState,
    OptionLeg,
    basket_margin,
    ewma_sigma,
    leg_arrays,
    portfolio_margin,
    price_scan_fraction,
    scenario_losses,
    scenarios,
)
from tests.conftest import NSE_SNAPSHOT_DIR, SHARED_DATA

CE, PE = OptionType.CE, OptionType.PE

# -- The published figures ----------------------------------------------------------------------
# Angel One's F&O margin calculator as quoted on tradingqna.com/t/178234 (NIFTY, one lot of 75,
# the current weekly). The spot is the one its exposure column implies: 34 671.15 = 2 % × 75 ×
# 23 114.1. The premiums are its premium column / 75. Not published, chosen here: 3 calendar days
# to expiry (valued at noon, expiry at 15:30 IST three days later), IV 14 % on every leg, rate
# 6.5 %, the forward spot × e^{rT}.
PUBLISHED_SPOT = 23114.1
PUBLISHED_AS_OF = datetime(2025, 1, 27, 12, 0, tzinfo=IST)
PUBLISHED_EXPIRY = date(2025, 1, 30)
LOT = 75
PUBLISHED_MARKET = MarketState(spot=PUBLISHED_SPOT, as_of=PUBLISHED_AS_OF, rate=0.065)


def _leg(strike: float, option_type: OptionType, lots: int, premium: float) -> OptionLeg:
    return OptionLeg(PUBLISHED_EXPIRY, strike, option_type, lots * LOT, 0.14, premium)


SHORT_PE = _leg(23100, PE, -1, 123.70)
SHORT_CE = _leg(23100, CE, -1, 154.70)
LONG_PE_WING = _leg(22800, PE, 1, 37.95)
LONG_CE_WING = _leg(23400, CE, 1, 43.80)

PUBLISHED = {
    "short 23100 PE": ([SHORT_PE], Decimal("192798")),
    "short 23100 CE": ([SHORT_CE], Decimal("196181")),
    "short straddle": ([SHORT_PE, SHORT_CE], Decimal("230852")),
    "23100/22800 put credit spread": ([SHORT_PE, LONG_PE_WING], Decimal("56218")),
    "iron butterfly 22800/23100/23400": (
        [SHORT_PE, SHORT_CE, LONG_PE_WING, LONG_CE_WING],
        Decimal("91538"),
    ),
}


@pytest.mark.parametrize("strategy", list(PUBLISHED))
def test_the_margin_is_within_five_percent_of_the_brokers_published_figure(strategy: str) -> None:
    legs, published = PUBLISHED[strategy]
    margin = portfolio_margin(legs, PUBLISHED_MARKET)
    assert margin.margin == margin.span + margin.exposure
    assert abs(margin.margin / published - 1) <= Decimal("0.05"), (strategy, margin)


def test_the_published_exposure_is_two_percent_of_the_notional_of_each_short() -> None:
    straddle = portfolio_margin([SHORT_PE, SHORT_CE], PUBLISHED_MARKET)
    assert straddle.exposure == Decimal("69342.30")  # the calculator's own figure, to the paisa
    assert straddle.premium == Decimal("-20880.00")  # premium received: 75 × (123.70 + 154.70)


def test_a_debit_spread_blocks_its_premium_plus_at_most_the_short_legs_exposure() -> None:
    long_call = _leg(23100, CE, 1, 154.70)
    short_call = _leg(23400, CE, -1, 43.80)
    spread = portfolio_margin([long_call, short_call], PUBLISHED_MARKET)
    assert spread.premium == Decimal("8317.50")  # 75 × (154.70 - 43.80), paid
    assert spread.span == 0  # its worst loss is the premium already paid
    assert spread.margin <= Decimal("34671.15")  # the short leg's exposure


def test_a_long_option_alone_blocks_nothing_beyond_its_premium() -> None:
    margin = portfolio_margin([_leg(23100, CE, 2, 154.70)], PUBLISHED_MARKET)
    assert (margin.span, margin.exposure, margin.margin) == (0, 0, 0)
    assert margin.premium == Decimal("23205.00")


def test_opposite_positions_in_one_contract_net_to_nothing() -> None:
    legs = [SHORT_CE, _leg(23100, CE, 1, 154.70)]
    margin = portfolio_margin(legs, PUBLISHED_MARKET)
    assert (margin.margin, margin.premium) == (0, 0)


def test_a_hedge_in_the_basket_lowers_the_margin_of_the_open_short() -> None:
    check = basket_margin([SHORT_PE], [LONG_PE_WING], PUBLISHED_MARKET)
    alone = portfolio_margin([SHORT_PE], PUBLISHED_MARKET)
    assert check.combined.margin < alone.margin / 3  # 1.93 lakh -> about 57 thousand
    assert check.basket is not None
    assert check.basket.margin == 0  # the hedge alone is a long option
    assert check.basket.premium == Decimal("2846.25")
    assert (
        basket_margin([SHORT_PE], [LONG_PE_WING], PUBLISHED_MARKET, basket_alone=False).basket
        is None
    )


# -- Each scenario by hand ----------------------------------------------------------------------
def _black76_by_hand(f: float, k: float, t: float, sigma: float, r: float, call: bool) -> float:
    if t <= 0 or sigma <= 0:
        return math.exp(-r * t) * max((f - k) if call else (k - f), 0.0)
    n = lambda x: 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))  # noqa: E731
    s = sigma * math.sqrt(t)
    d1 = (math.log(f / k) + s * s / 2) / s
    d2 = d1 - s
    sign = 1 if call else -1
    return math.exp(-r * t) * sign * (f * n(sign * d1) - k * n(sign * d2))


def test_there_are_sixteen_scenarios_named_and_weighted_as_span_has_them() -> None:
    table = scenarios()
    assert len(table) == 16
    assert [s.name for s in table[:6]] == [
        "price 0, vol up",
        "price 0, vol down",
        "price +1/3 PSR, vol up",
        "price +1/3 PSR, vol down",
        "price -1/3 PSR, vol up",
        "price -1/3 PSR, vol down",
    ]
    assert table[12].name == "price -1 PSR, vol up"
    assert [s.name for s in table[14:]] == [
        "price +2 PSR, vol unchanged, 35% of the loss",
        "price -2 PSR, vol unchanged, 35% of the loss",
    ]
    assert [s.weight for s in table] == [1.0] * 14 + [0.35] * 2


def test_every_scenario_loss_is_the_hand_repriced_loss() -> None:
    # a short 23100 CE and a long 22800 PE, 3 days, 14 % IV: VSR = max(25 % × 14 %, 4 %) = 4 pts,
    # PSR = 9.3 % (no series), repriced 2 days from expiry
    legs = [SHORT_CE, LONG_PE_WING]
    book = leg_arrays(legs, PUBLISHED_MARKET)
    losses = scenario_losses(book, 0.093, 0.065)
    t_now = (datetime(2025, 1, 30, 15, 30, tzinfo=IST) - PUBLISHED_AS_OF).total_seconds() / (
        365 * 86400
    )
    forward = PUBLISHED_SPOT * math.exp(0.065 * t_now)
    for scenario, loss in zip(scenarios(), losses, strict=True):
        f = forward * (1 + float(scenario.price_move) * 0.093)
        sigma = 0.14 + scenario.vol_move * 0.04
        t = t_now - 1 / 365
        short_ce = _black76_by_hand(f, 23100, t, sigma, 0.065, True) - 154.70
        long_pe = _black76_by_hand(f, 22800, t, sigma, 0.065, False) - 37.95
        expected = scenario.weight * (75 * short_ce - 75 * long_pe)
        assert loss == pytest.approx(expected, rel=1e-9), scenario.name


def test_the_span_is_the_worst_loss_less_the_net_option_value() -> None:
    legs = [SHORT_CE, LONG_PE_WING]
    losses = scenario_losses(leg_arrays(legs, PUBLISHED_MARKET), 0.093, 0.065)
    net_option_value = 75 * 37.95 - 75 * 154.70
    margin = portfolio_margin(legs, PUBLISHED_MARKET)
    assert float(margin.span) == pytest.approx(max(losses) - net_option_value, abs=0.006)
    assert margin.worst_scenario == "price +1 PSR, vol up"


def test_on_its_expiry_day_a_short_is_scanned_at_intrinsic_value_and_pays_four_percent() -> None:
    # valued at 10:00 on the expiry day: one day less floors at expiry, so the short ATM call is
    # repriced at its intrinsic value on the moved forward; the worst is +1 PSR:
    # SPAN = loss + premium = F × 1.093 - K (the ±2 PSR scenarios count 35 %: smaller)
    as_of = datetime(2025, 1, 30, 10, 0, tzinfo=IST)
    market = MarketState(spot=PUBLISHED_SPOT, as_of=as_of, rate=0.0)
    short = _leg(23100, CE, -1, 40.0)
    margin = portfolio_margin([short], market)
    assert float(margin.span) == pytest.approx(75 * (PUBLISHED_SPOT * 1.093 - 23100), abs=0.006)
    assert margin.exposure == Decimal("69342.30")  # (2 % + 2 %) × 23 114.1 × 75
    day_before = portfolio_margin([short], MarketState(PUBLISHED_SPOT, PUBLISHED_AS_OF, 0.0))
    assert day_before.exposure == Decimal("34671.15")


def test_the_forward_of_an_expiry_is_used_when_given() -> None:
    with_forward = MarketState(
        PUBLISHED_SPOT, PUBLISHED_AS_OF, 0.065, forwards={PUBLISHED_EXPIRY: 23300.0}
    )
    higher = portfolio_margin([SHORT_CE], with_forward)
    plain = portfolio_margin([SHORT_CE], PUBLISHED_MARKET)
    # without one the forward is spot × e^{rT} = 23 127.07; the deep in-the-money call at +1 PSR
    # moves one for one with it: 1.093 × (23 300 - 23 127.07) × 75 more
    t_now = (datetime(2025, 1, 30, 15, 30, tzinfo=IST) - PUBLISHED_AS_OF).total_seconds()
    implied = PUBLISHED_SPOT * math.exp(0.065 * t_now / (365 * 86400))
    expected = 1.093 * (23300.0 - implied) * 75
    assert float(higher.span - plain.span) == pytest.approx(expected, rel=0.002)


# -- The price scan range -----------------------------------------------------------------------
def test_the_ewma_of_a_constant_size_return_is_that_return() -> None:
    closes = [20000.0 * math.exp(0.02 * (i % 2)) for i in range(60)]  # +2 %, -2 %, +2 %, ...
    assert ewma_sigma(closes, 0.995) == pytest.approx(0.02, rel=1e-12)
    assert price_scan_fraction(closes) == pytest.approx(6 * 0.02 * math.sqrt(2))  # 16.97 %


def test_a_calm_series_or_no_series_gets_the_nine_point_three_percent_floor() -> None:
    calm = [20000.0 * math.exp(0.005 * (i % 2)) for i in range(60)]  # 6 × 0.5 % × √2 = 4.2 %
    assert price_scan_fraction(calm) == 0.093
    assert price_scan_fraction([]) == 0.093
    assert ewma_sigma([20000.0], 0.995) is None


def test_a_volatile_series_widens_the_scan_and_the_margin() -> None:
    volatile = [23000.0 * math.exp(0.02 * (i % 2)) for i in range(60)]
    market = MarketState(PUBLISHED_SPOT, PUBLISHED_AS_OF, 0.065, daily_closes=volatile)
    wide = portfolio_margin([SHORT_CE], market)
    assert wide.price_scan_range == pytest.approx(PUBLISHED_SPOT * 6 * 0.02 * math.sqrt(2))
    assert wide.margin > portfolio_margin([SHORT_CE], PUBLISHED_MARKET).margin * Decimal("1.5")


# -- Bad input ----------------------------------------------------------------------------------
NAIVE_MARKET = MarketState(PUBLISHED_SPOT, datetime(2025, 1, 27, 12), 0.065)
NEGATIVE_CLOSES = MarketState(PUBLISHED_SPOT, PUBLISHED_AS_OF, 0.065, daily_closes=[1, -1])


def _ce(iv: float, price: float | None = None, strike: float = 23100) -> OptionLeg:
    return OptionLeg(PUBLISHED_EXPIRY, strike, CE, -75, iv, price)


@pytest.mark.parametrize(
    ("leg", "market", "field"),
    [
        (SHORT_CE, NAIVE_MARKET, "as_of"),
        (SHORT_CE, MarketState(0.0, PUBLISHED_AS_OF, 0.065), "spot"),
        (_ce(0.14, strike=0), PUBLISHED_MARKET, "legs[0].strike"),
        (_ce(math.nan), PUBLISHED_MARKET, "legs[0].iv"),
        (_ce(0.14, -1.0), PUBLISHED_MARKET, "legs[0].price"),
        (SHORT_CE, NEGATIVE_CLOSES, "daily_closes"),
    ],
)
def test_bad_input_is_refused_naming_the_field(
    leg: OptionLeg, market: MarketState, field: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        portfolio_margin([leg], market)
    assert refused.value.extra["errors"][0]["field"] == field


# -- Real NSE chains ----------------------------------------------------------------------------
# The raw NSE JSON: strikes, IVs in percent, bid/ask, `underlyingValue`; lot 75 for Oct-Dec 2025.
HISTORY_DIR = SHARED_DATA / "nse" / "history"
REAL_LOT = 75
RATE = 0.065


def _load(path: Path) -> dict[str, Any]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as raw:
        records: dict[str, Any] = json.load(raw)["records"]
    return records


class _Chain:
    """One expiry of a raw snapshot: its market state and a leg for any strike."""

    def __init__(self, path: Path, expiry_index: int = 0, skip_expiry_day: bool = True) -> None:
        records = _load(path)
        self.as_of = datetime.strptime(records["timestamp"], "%d-%b-%Y %H:%M:%S").replace(
            tzinfo=IST
        )
        self.spot = float(records["underlyingValue"])
        expiries = [datetime.strptime(e, "%d-%b-%Y").date() for e in records["expiryDates"]]
        if skip_expiry_day:
            expiries = [e for e in expiries if e > self.as_of.date()]
        self.expiry = expiries[expiry_index]
        self.rows = {
            float(row["strikePrice"]): row
            for row in records["data"]
            if datetime.strptime(row["expiryDate"], "%d-%b-%Y").date() == self.expiry
        }
        self.market = MarketState(spot=self.spot, as_of=self.as_of, rate=RATE)

    @property
    def atm(self) -> float:
        quoted = [k for k, row in self.rows.items() if "CE" in row and "PE" in row]
        return min(quoted, key=lambda k: abs(k - self.spot))

    def leg(self, strike: float, option_type: OptionType, lots: int) -> OptionLeg:
        quote = self.rows[strike][option_type.value]
        bid, ask = quote.get("bidprice") or 0, quote.get("askPrice") or 0
        price = (bid + ask) / 2 if bid > 0 and ask > 0 else quote["lastPrice"]
        iv = quote["impliedVolatility"] / 100 or 0.12  # NSE leaves some IVs at 0
        return OptionLeg(self.expiry, strike, option_type, lots * REAL_LOT, iv, price)

    @property
    def notional(self) -> float:
        return self.spot * REAL_LOT


SNAPSHOTS = sorted(NSE_SNAPSHOT_DIR.glob("NIFTY_*.json"))
HISTORY = [
    HISTORY_DIR / "2025-10-15" / "NIFTY_2025-10-15_11-07-17_IST.json.gz",
    HISTORY_DIR / "2025-10-23" / "NIFTY_2025-10-23_11-11-18_IST.json.gz",
    HISTORY_DIR / "2025-11-06" / "NIFTY_2025-11-06_11-09-48_IST.json.gz",
    HISTORY_DIR / "2025-11-19" / "NIFTY_2025-11-19_11-03-05_IST.json.gz",
]
REAL = SNAPSHOTS + HISTORY


def _ratio(margin: Decimal, notional: float) -> float:
    return float(margin) / notional


@pytest.mark.parametrize("path", REAL, ids=lambda p: p.name)
def test_on_real_chains_a_short_atm_option_blocks_nine_to_thirteen_percent(path: Path) -> None:
    chain = _Chain(path)
    for option_type in (CE, PE):
        margin = portfolio_margin([chain.leg(chain.atm, option_type, -1)], chain.market)
        assert 0.09 <= _ratio(margin.margin, chain.notional) <= 0.13, (option_type, margin)


@pytest.mark.parametrize("path", REAL, ids=lambda p: p.name)
def test_on_real_chains_a_straddle_blocks_eleven_to_sixteen_percent_and_a_butterfly_under_half(
    path: Path,
) -> None:
    chain = _Chain(path)
    k = chain.atm
    straddle = [chain.leg(k, CE, -1), chain.leg(k, PE, -1)]
    wings = [chain.leg(k - 300, PE, 1), chain.leg(k + 300, CE, 1)]
    straddle_margin = portfolio_margin(straddle, chain.market).margin
    butterfly_margin = portfolio_margin(straddle + wings, chain.market).margin
    assert 0.11 <= _ratio(straddle_margin, chain.notional) <= 0.16, straddle_margin
    assert butterfly_margin < straddle_margin / 2, (butterfly_margin, straddle_margin)


@pytest.mark.parametrize(
    "path",
    [
        NSE_SNAPSHOT_DIR / "NIFTY_2025-12-02_09-34-45_IST.json",
        HISTORY_DIR / "2025-10-14" / "NIFTY_2025-10-14_11-06-18_IST.json.gz",
    ],
    ids=lambda p: p.name,
)
def test_on_real_chains_a_short_on_its_expiry_day_carries_the_extra_two_percent(path: Path) -> None:
    today = _Chain(path, skip_expiry_day=False)
    assert today.expiry == today.as_of.date()
    next_week = _Chain(path)
    for chain, rate in ((today, 0.04), (next_week, 0.02)):
        margin = portfolio_margin([chain.leg(chain.atm, PE, -1)], chain.market)
        assert float(margin.exposure) == pytest.approx(rate * chain.notional, abs=0.006)
