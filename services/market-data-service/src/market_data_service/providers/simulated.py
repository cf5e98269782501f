"""A deterministic simulated market: the same (seed, underlying, instant) gives the same chain.

All randomness comes from numpy generators seeded by a blake2b hash of (seed, underlying, stream,
date or minute): there is no global RNG state and no wall clock (except the route's default
as_of = now), so any past instant can be asked for again, by any process with the same seed.

- Spot. The open of each regular trading day is `reference_spot * exp(a)`, where `a` is a 64-day
  moving sum of daily shocks: the index wanders a few percent around `reference_spot` and moves
  about 0.5% from one open to the next. Within the session, a Brownian bridge with one-minute steps
  at the day's volatility joins the open to the next trading day's open, so there are no gaps.
- Outside market hours (before 09:15, from 15:30 on, weekends, NSE holidays, special sessions)
  the market sits at the last close: spot, quotes and `as_of` are those of 15:30 IST of the last
  regular session. Within the session the market moves once a minute.
- Volatility. A day level per underlying (its base vol times a slow random factor), a term
  structure (the shortest expiries a little lower), and a skewed smile in standardised moneyness:
  higher IV for low strikes. India VIX is one market-wide number: NIFTY's 30-day ATM IV + 0.8
  points, the same for every underlying at an instant.
- Quotes. The Black-Scholes value at the smile IV (the rate in force at the instant, from the
  dated 91-day T-bill table `optrade.rates` unless `RISK_FREE_RATE` fixes one, and the dividend
  yield), a mid a little off it, bid and ask on the 0.05 tick with a spread that widens with the
  premium and away from the money. A bid below 0.05 is no bid; ask and LTP are at least 0.05.
- OI and volume peak near the money (call OI a little above spot, put OI below); nearer expiries
  hold more. Volume accrues through the session; OI drifts a little.
- Expiries. By the instrument's expiry rule of each era (`optrade.instruments`): weeklies where
  the era lists them, monthlies on the era's last weekday of the month, moved to the previous
  regular trading day when that is a holiday.
  Listed: the next 4 weeklies and the next 3 monthlies, each until 15:30 IST on its date.
- Strikes: 40 strike steps either side of the day's opening ATM strike (fixed for the day).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

import numpy as np

from market_data_service import greeks
from market_data_service.providers.base import (
    Chain,
    ExpiryListing,
    Leg,
    MarketSnapshot,
    StrikeRow,
    UnderlyingListing,
    not_found,
    not_settled,
    put_call_ratio,
    unknown_expiry,
    unknown_underlying,
)
from optrade.calendar import expiry_close, is_trading_day, next_trading_day, previous_trading_day
from optrade.domain import (
    DAYS_PER_YEAR,
    IST,
    MARKET_OPEN,
    SECONDS_PER_YEAR,
    SESSION_SECONDS,
    TRADING_DAYS_PER_YEAR,
)
from optrade.errors import InvalidInput
from optrade.instruments import ContractExpiry, InstrumentSpec, get_instruments
from optrade.rates import rate_at

SESSION_MINUTES = int(SESSION_SECONDS) // 60  # 09:15 to 15:30
TICK = 0.05
STRIKES_EACH_SIDE = 40
WEEKLIES_LISTED = 4
MONTHLIES_LISTED = 3
SHOCK_WINDOW_DAYS = 64
LEVEL_VOL = 0.04  # stationary spread of the daily open around reference_spot (log)
VOL_OF_VOL = 0.2  # spread of the day's volatility level around the base (log)
SMILE_SKEW = -0.07  # per standard deviation of moneyness: low strikes carry more IV
SMILE_CURVATURE = 0.015
MONEYNESS_CLIP = 5.0
VIX_PREMIUM = 0.8  # points over 30-day ATM IV
VIX_UNDERLYING = "NIFTY"  # India VIX is computed from NIFTY options
EARLIEST = date(2001, 1, 1)  # the NSE calendar's first year
LISTING_HORIZON_DAYS = 4 * 31 + 10  # three monthlies ahead, whatever the day of the month


@dataclass(frozen=True)
class Profile:
    base_vol: float  # decimal, annualised
    oi_scale: float  # contracts at the busiest strike of a near expiry


PROFILES = {
    "NIFTY": Profile(0.12, 120_000),
    "BANKNIFTY": Profile(0.14, 40_000),
    "FINNIFTY": Profile(0.13, 8_000),
}
DEFAULT_PROFILE = Profile(0.15, 20_000)


def _rng(*parts: object) -> np.random.Generator:
    """A generator determined by `parts` alone (Python's hash() is salted per process)."""
    digest = hashlib.blake2b("|".join(str(p) for p in parts).encode(), digest_size=16).digest()
    return np.random.default_rng(int.from_bytes(digest, "little"))


@lru_cache(maxsize=1024)
def _year_shocks(seed: int, underlying: str, stream: str, year: int) -> tuple[float, ...]:
    return tuple(_rng(seed, underlying, stream, year).standard_normal(366).tolist())


@lru_cache(maxsize=8192)
def _slow_factor(seed: int, underlying: str, stream: str, day: date) -> float:
    """A unit-variance value that changes slowly from day to day (a 64-day moving sum)."""
    total = 0.0
    for back in range(SHOCK_WINDOW_DAYS):
        d = day - timedelta(days=back)
        total += _year_shocks(seed, underlying, stream, d.year)[d.timetuple().tm_yday - 1]
    return total / math.sqrt(SHOCK_WINDOW_DAYS)


def day_vol(seed: int, underlying: str, day: date) -> float:
    """The day's ATM volatility level (decimal) before the term structure."""
    base = PROFILES.get(underlying, DEFAULT_PROFILE).base_vol
    return base * math.exp(VOL_OF_VOL * _slow_factor(seed, underlying, "vol", day))


def india_vix(seed: int, day: date) -> float:
    """India VIX (percent) on `day`: NIFTY's 30-day ATM IV plus a premium, for every underlying."""
    return round(
        100.0 * atm_vol(day_vol(seed, VIX_UNDERLYING, day), 30 / DAYS_PER_YEAR) + VIX_PREMIUM, 2
    )


def _log_open(seed: int, underlying: str, reference_spot: float, day: date) -> float:
    return math.log(reference_spot) + LEVEL_VOL * _slow_factor(seed, underlying, "level", day)


@lru_cache(maxsize=512)
def day_path(seed: int, underlying: str, reference_spot: float, day: date) -> tuple[float, ...]:
    """Spot at each minute 0..375 of `day`'s session, ending at the next session's open."""
    following = next_trading_day(day + timedelta(days=1), regular_only=True)
    start = _log_open(seed, underlying, reference_spot, day)
    end = _log_open(seed, underlying, reference_spot, following)
    sigma_minute = day_vol(seed, underlying, day) / math.sqrt(
        TRADING_DAYS_PER_YEAR * SESSION_MINUTES
    )
    steps = _rng(seed, underlying, "intraday", day.isoformat()).standard_normal(SESSION_MINUTES)
    walk = np.concatenate(([0.0], np.cumsum(steps * sigma_minute)))
    frac = np.linspace(0.0, 1.0, SESSION_MINUTES + 1)
    return tuple(np.exp(start + frac * (end - start) + walk - frac * walk[-1]).tolist())


def market_minute(as_of: datetime) -> tuple[date, int]:
    """The regular session and minute (0..375) whose market state holds at `as_of`."""
    local = as_of.astimezone(IST)
    day = local.date()
    if is_trading_day(day, regular_only=True):
        opened = datetime.combine(day, MARKET_OPEN, tzinfo=IST)
        if local >= opened:
            return day, min(SESSION_MINUTES, int((local - opened).total_seconds() // 60))
    return previous_trading_day(day - timedelta(days=1)), SESSION_MINUTES


def minute_time(day: date, minute: int) -> datetime:
    """The market instant (UTC) of `minute` of `day`'s session."""
    opened = datetime.combine(day, MARKET_OPEN, tzinfo=IST)
    return (opened + timedelta(minutes=minute)).astimezone(UTC)


def listed_contracts(spec: InstrumentSpec, market_time: datetime) -> list[ContractExpiry]:
    """Next weeklies and monthlies at `market_time`, holiday-adjusted, nearest first."""
    today = market_time.astimezone(IST).date()
    live = [
        c
        for c in spec.expiries_between(today, today + timedelta(days=LISTING_HORIZON_DAYS))
        if expiry_close(c.expiry) > market_time
    ]
    monthly = [c for c in live if c.monthly][:MONTHLIES_LISTED]
    # A monthly that falls on a weekly date counts as one of the weeklies too.
    weekly = [c for c in live if spec.is_weekly_nominal(c.nominal)][:WEEKLIES_LISTED]
    return sorted({c.expiry: c for c in monthly + weekly}.values(), key=lambda c: c.expiry)


def listed_expiries(spec: InstrumentSpec, market_time: datetime) -> list[date]:
    """The expiry dates of `listed_contracts`."""
    return [c.expiry for c in listed_contracts(spec, market_time)]


def atm_vol(level: float, t_years: float) -> float:
    """ATM IV (decimal) for an expiry `t_years` away: the shortest expiries sit a little lower."""
    return level * (0.88 + 0.12 * (1.0 - math.exp(-t_years * DAYS_PER_YEAR / 20.0)))


def smile(atm: float, strikes: np.ndarray, forward: float, t_years: float) -> np.ndarray:
    """IV (decimal) per strike: skewed to low strikes, in standardised moneyness."""
    x = np.clip(
        np.log(strikes / forward) / (atm * math.sqrt(t_years)), -MONEYNESS_CLIP, MONEYNESS_CLIP
    )
    return np.asarray(atm * (1.0 + SMILE_SKEW * x + SMILE_CURVATURE * x * x))


class SimulatedProvider:
    """The simulated market; the rate (fixed, or `rate_at` the instant) and `dividend_yield`
    price the theoretical values."""

    name = "simulated"

    def __init__(
        self, *, seed: int, rate: float | None = None, dividend_yield: float = 0.0
    ) -> None:
        self.seed = seed
        self.fixed_rate = rate  # None: the dated table's rate at each instant
        self.dividend_yield = dividend_yield
        self._instruments = get_instruments()
        self._chain = lru_cache(maxsize=256)(self._build_chain)
        self._listed = lru_cache(maxsize=4096)(self._listed_expiries)

    # -- the provider interface ----------------------------------------------------------------

    def underlyings(self, as_of: datetime) -> list[UnderlyingListing]:
        day, minute = self._minute(as_of)
        market_time = minute_time(day, minute)
        listings = []
        for name, spec in sorted(self._instruments.items()):
            contracts = listed_contracts(spec, market_time)
            listings.append(
                UnderlyingListing(
                    name=name,
                    spot=round(self._path(spec, day)[minute], 2),
                    strike_step=spec.strike_step,
                    expiries=tuple(
                        ExpiryListing(c.expiry, spec.lot_size_for(c.expiry), c.estimated)
                        for c in contracts
                    ),
                    as_of=market_time,
                )
            )
        return listings

    def chain(self, underlying: str, expiry: date | None, as_of: datetime) -> Chain:
        spec = self._spec(underlying)
        day, minute = self._minute(as_of)
        listed = self._listed(spec.name, day, minute)
        if expiry is None:
            expiry = listed[0]
        elif expiry not in listed:
            raise unknown_expiry(underlying, expiry, listed)
        return self._chain(underlying, expiry, day, minute)

    def context(self, underlying: str, as_of: datetime) -> MarketSnapshot:
        chain = self.chain(underlying, None, as_of)
        return MarketSnapshot(
            underlying=underlying,
            spot=chain.spot,
            vix=chain.vix,
            pcr=chain.pcr,
            expiry=chain.expiry,
            as_of=chain.as_of,
        )

    def settlement(self, underlying: str, expiry: date, as_of: datetime) -> Chain:
        """The expiry's last quotes (15:29 IST) with spot at the 15:30 close it settles on."""
        spec = self._spec(underlying)
        if not spec.is_expiry(expiry):
            raise not_found(
                "expiry",
                f"no {underlying} contract expires on {expiry.isoformat()} under the "
                "NSE contract calendar (optrade/instruments.json)",
            )
        if as_of < expiry_close(expiry):
            raise not_settled(underlying, expiry, as_of, "it settles at 15:30 IST on its expiry")
        self._minute(expiry_close(expiry))  # the simulated market's first date
        last = self._chain(underlying, expiry, expiry, SESSION_MINUTES - 1)
        return dataclasses.replace(
            last,
            spot=round(self._path(spec, expiry)[SESSION_MINUTES], 2),
            as_of=minute_time(expiry, SESSION_MINUTES),
            spot_source="settlement",
        )

    def ready(self) -> None:
        """Readiness: the market can be computed now (calendar loaded, kernel importable)."""
        self.context(next(iter(self._instruments)), datetime.now(UTC))

    # -- internals -------------------------------------------------------------------------------

    def rate_at(self, instant: datetime) -> float:
        """The risk-free rate the market is priced at, at `instant`."""
        return self.fixed_rate if self.fixed_rate is not None else rate_at(instant)

    def _spec(self, underlying: str) -> InstrumentSpec:
        spec = self._instruments.get(underlying)
        if spec is None:
            raise unknown_underlying(underlying, self._instruments)
        return spec

    def _path(self, spec: InstrumentSpec, day: date) -> tuple[float, ...]:
        return day_path(self.seed, spec.name, spec.reference_spot, day)

    @staticmethod
    def _minute(as_of: datetime) -> tuple[date, int]:
        if as_of.astimezone(IST).date() < EARLIEST:
            raise InvalidInput("as_of", f"the simulated market starts on {EARLIEST.isoformat()}")
        return market_minute(as_of)

    def _listed_expiries(self, underlying: str, day: date, minute: int) -> tuple[date, ...]:
        return tuple(listed_expiries(self._instruments[underlying], minute_time(day, minute)))

    def _build_chain(self, underlying: str, expiry: date, day: date, minute: int) -> Chain:
        spec = self._instruments[underlying]
        path = self._path(spec, day)
        spot = round(path[minute], 2)
        market_time = minute_time(day, minute)
        t_years = (expiry_close(expiry) - market_time).total_seconds() / SECONDS_PER_YEAR
        center = round(path[0] / spec.strike_step) * spec.strike_step
        strikes = center + spec.strike_step * np.arange(-STRIKES_EACH_SIDE, STRIKES_EACH_SIDE + 1)
        strikes = strikes[strikes > 0].astype(np.float64)
        rate = self.rate_at(market_time)
        forward = spot * math.exp((rate - self.dividend_yield) * t_years)
        level = day_vol(self.seed, underlying, day)
        atm = atm_vol(level, t_years)
        iv = smile(atm, strikes, forward, t_years)
        moneyness = np.abs(np.log(strikes / forward) / (atm * math.sqrt(t_years)))
        legs = self._legs(
            underlying, expiry, day, minute, spot, strikes, iv, moneyness, t_years, rate
        )
        rows = tuple(StrikeRow(float(k), ce, pe) for k, ce, pe in zip(strikes, *legs, strict=True))
        return Chain(
            underlying=underlying,
            expiry=expiry,
            as_of=market_time,
            spot=spot,
            lot_size=spec.lot_size_for(expiry),
            vix=india_vix(self.seed, day),
            pcr=put_call_ratio(rows),
            rows=rows,
        )

    def _legs(
        self,
        underlying: str,
        expiry: date,
        day: date,
        minute: int,
        spot: float,
        strikes: np.ndarray,
        iv: np.ndarray,
        moneyness: np.ndarray,
        t_years: float,
        rate: float,
    ) -> tuple[list[Leg], list[Leg]]:
        """Calls and puts per strike: quotes around value, OI and volume."""
        n = strikes.size
        is_call = np.concatenate((np.ones(n, dtype=bool), np.zeros(n, dtype=bool)))
        both = np.concatenate((strikes, strikes))
        value = greeks.compute(
            "bsm", is_call, spot, both, t_years, rate, self.dividend_yield, iv=np.tile(iv, 2)
        ).price
        away = np.tile(np.minimum(moneyness, MONEYNESS_CLIP), 2)
        quote_rng = _rng(self.seed, underlying, expiry, day, minute, "quotes")
        bid, ask, ltp = _quotes(value, away, quote_rng)
        oi, volume = self._open_interest(underlying, expiry, day, minute, spot, strikes)
        legs = [
            Leg(ltp=ltp[i], bid=bid[i], ask=ask[i], oi=oi[i], volume=volume[i])
            for i in range(2 * n)
        ]
        return legs[:n], legs[n:]

    def _open_interest(
        self,
        underlying: str,
        expiry: date,
        day: date,
        minute: int,
        spot: float,
        strikes: np.ndarray,
    ) -> tuple[list[float], list[int]]:
        """OI and volume, calls then puts: a bump near the money, larger for near expiries."""
        rng = _rng(self.seed, underlying, expiry, day, "open-interest")
        days_left = max((expiry - day).days, 0)
        scale = PROFILES.get(underlying, DEFAULT_PROFILE).oi_scale / (1.0 + days_left / 10.0)
        width = 0.012 + 0.03 * math.sqrt(days_left / 30.0)
        distance = (strikes - spot) / spot
        put_bias = math.exp(0.2 * rng.standard_normal())
        call_shape = np.exp(-0.5 * ((distance - 0.5 * width) / width) ** 2)
        put_shape = put_bias * np.exp(-0.5 * ((distance + 0.5 * width) / width) ** 2)
        shape = np.concatenate((call_shape, put_shape))
        noise = rng.lognormal(0.0, 0.25, shape.size)
        drift = rng.uniform(-0.15, 0.25, shape.size)
        elapsed = minute / SESSION_MINUTES
        oi = np.floor(scale * shape * noise * (1.0 + drift * elapsed))
        turnover = rng.uniform(1.0, 4.0, shape.size) * (1.0 + 5.0 / (1.0 + days_left))
        volume = np.floor(oi * turnover * elapsed)
        return oi.tolist(), [int(v) for v in volume.tolist()]


def _quotes(
    value: np.ndarray, away: np.ndarray, rng: np.random.Generator
) -> tuple[list[float | None], list[float], list[float]]:
    """Bid, ask and LTP on the tick around `value`; the spread widens with premium and `away`."""
    spread = 1 + np.ceil(value * (0.0015 + 0.002 * away) / TICK).astype(np.int64)
    mid = value / TICK + rng.uniform(-0.3, 0.3, value.size) * spread
    bid_ticks = np.floor(mid - spread / 2).astype(np.int64)
    ask_ticks = np.maximum(bid_ticks + spread, 1)
    ltp_ticks = np.maximum(bid_ticks + rng.integers(0, spread + 1), 1)
    bids: list[float | None] = [round(b * TICK, 2) if b >= 1 else None for b in bid_ticks.tolist()]
    asks = [round(a * TICK, 2) for a in ask_ticks.tolist()]
    ltps = [round(x * TICK, 2) for x in ltp_ticks.tolist()]
    return bids, asks, ltps
