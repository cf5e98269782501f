"""The provider interface: what any market (simulated, recorded, a live broker) must answer.

A provider returns market data only (prices, OI, volume, spot, VIX, PCR). Greeks are computed by
one common function over the whole chain (`market_data_service.pricing`), so every provider gets
the same IV convention. Every instant is timezone-aware; `as_of` on a result is the market time of
the data (UTC), which may be earlier than the instant asked for (the last snapshot, the last close).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal, Protocol, runtime_checkable

from optrade.errors import NotFound

OptionSide = Literal["CE", "PE"]
# Where a chain's `as_of` comes from: the data itself (a replayed file, the simulated clock), the
# upstream's own timestamp, or, for an upstream that sends none, our receive time.
AsOfSource = Literal["data", "upstream", "received"]


@dataclass(frozen=True, slots=True)
class BrokerGreeks:
    """A live upstream's own IV and Greeks for one leg, kept beside ours for comparison."""

    iv: float | None  # percent
    delta: float | None
    gamma: float | None
    theta: float | None  # as the upstream sends it (premium per calendar day in both documents)
    vega: float | None  # as the upstream sends it (premium per 1 vol point in both documents)


@dataclass(frozen=True, slots=True)
class Leg:
    """One side (CE or PE) of one strike: what the market shows, `None` where it shows nothing."""

    ltp: float | None  # rupees; None when nothing traded
    bid: float | None  # rupees; None when there is no bid
    ask: float | None  # rupees; None when there is no offer
    oi: float | None  # contracts
    volume: int | None  # contracts traded today
    nse_iv: float | None = None  # percent, as NSE publishes it (replay only)
    broker: BrokerGreeks | None = None  # a live upstream's IV/Greeks (live and recorded only)
    units_warning: str | None = None  # OI/volume in units that were not a multiple of the lot


@dataclass(frozen=True, slots=True)
class StrikeRow:
    strike: float
    ce: Leg | None  # None: the exchange lists no call at this strike
    pe: Leg | None

    def leg(self, option_type: OptionSide) -> Leg | None:
        return self.ce if option_type == "CE" else self.pe


@dataclass(frozen=True, slots=True)
class Chain:
    """Every strike of one expiry of one underlying at one market instant."""

    underlying: str
    expiry: date
    as_of: datetime  # market time of the data, UTC
    spot: float  # index points; the settlement value for an expiry at its close
    lot_size: int
    vix: float | None  # India VIX, percent
    pcr: float | None  # total put OI / total call OI of this expiry
    rows: tuple[StrikeRow, ...]  # ascending strike
    spot_source: Literal["last", "settlement"] = "last"
    as_of_source: AsOfSource = "data"
    upstream_at: datetime | None = None  # the upstream's own time of the data, when it sent one

    def row(self, strike: float) -> StrikeRow:
        """The row at `strike`, or a 404 naming the strikes that exist."""
        for row in self.rows:
            if abs(row.strike - strike) < 1e-9:
                return row
        raise not_found(
            "strike",
            f"strike {strike:g} not listed for {self.underlying} {self.expiry.isoformat()}; "
            f"{describe_strikes([r.strike for r in self.rows], near=strike)}",
        )


@dataclass(frozen=True, slots=True)
class MarketSnapshot:
    """Spot, VIX and PCR of one underlying; PCR is of `expiry`, the nearest live expiry."""

    underlying: str
    spot: float
    vix: float | None
    pcr: float | None
    expiry: date
    as_of: datetime


@dataclass(frozen=True, slots=True)
class ExpiryListing:
    expiry: date
    lot_size: int
    estimated: bool = False  # the date rests on estimated holiday data (not an NSE circular)


@dataclass(frozen=True, slots=True)
class UnderlyingListing:
    name: str
    spot: float
    strike_step: int
    expiries: tuple[ExpiryListing, ...]  # nearest first
    as_of: datetime


class MarketDataProvider(Protocol):
    """What the routes need from a market; add a live broker by implementing these three."""

    name: str

    def underlyings(self, as_of: datetime) -> list[UnderlyingListing]:
        """Every underlying served, with spot and listed expiries at `as_of`."""
        ...

    def chain(self, underlying: str, expiry: date | None, as_of: datetime) -> Chain:
        """The chain of `expiry` (nearest live expiry when None) at or before `as_of`."""
        ...

    def context(self, underlying: str, as_of: datetime) -> MarketSnapshot:
        """Spot, VIX and PCR (nearest live expiry) at or before `as_of`."""
        ...

    def ready(self) -> None:
        """Raise unless the provider can answer now (readiness probe)."""
        ...


@runtime_checkable
class SettlingProvider(Protocol):
    """A provider that knows what an expiry settled against (simulated, nse-replay)."""

    name: str

    def settlement(self, underlying: str, expiry: date, as_of: datetime) -> Chain:
        """The expiry's closing chain, `spot` the value it settles against (404 before then)."""
        ...


@runtime_checkable
class ReplayingProvider(Protocol):
    """A provider replaying recorded snapshots, which can list their instants (nse-replay)."""

    name: str

    def instants(self, underlying: str, start: datetime, end: datetime) -> Sequence[datetime]:
        """The market times of the snapshots from `start` to `end` inclusive, ascending."""
        ...


def put_call_ratio(rows: Iterable[StrikeRow]) -> float | None:
    """Total put OI / total call OI; None when there is no call OI."""
    calls = puts = 0.0
    for row in rows:
        calls += (row.ce.oi or 0.0) if row.ce else 0.0
        puts += (row.pe.oi or 0.0) if row.pe else 0.0
    return puts / calls if calls > 0 else None


def not_found(field: str, detail: str) -> NotFound:
    """A 404 whose body names the request field it is about, as a 422 does."""
    return NotFound(detail, extra={"errors": [{"field": field, "reason": detail}]})


def unknown_underlying(name: str, served: Iterable[str]) -> NotFound:
    return not_found(
        "underlying", f"underlying {name!r} not served; served: {', '.join(sorted(served))}"
    )


def unknown_expiry(underlying: str, expiry: date, listed: Sequence[date]) -> NotFound:
    names = ", ".join(e.isoformat() for e in listed) or "none"
    return not_found(
        "expiry", f"expiry {expiry.isoformat()} not listed for {underlying}; listed: {names}"
    )


def nearest_live_expiry(listed: Sequence[date], market_time: datetime) -> date:
    """The first expiry not yet expired at `market_time`, else the last one listed."""
    from optrade.calendar import expiry_close

    for expiry in listed:
        if expiry_close(expiry) > market_time:
            return expiry
    return listed[-1]


def describe_strikes(strikes: Sequence[float], *, near: float) -> str:
    """The listed strikes nearest `near` and the range: enough to correct a request."""
    if not strikes:
        return "no strikes listed"
    closest = sorted(sorted(strikes, key=lambda k: abs(k - near))[:4])
    return (
        f"nearest listed: {', '.join(f'{k:g}' for k in closest)} "
        f"({len(strikes)} strikes from {strikes[0]:g} to {strikes[-1]:g})"
    )


def not_settled(underlying: str, expiry: date, as_of: datetime, reason: str) -> NotFound:
    """A 404 for a settlement value asked too early or missing from the data."""
    from optrade.calendar import IST

    return not_found(
        "expiry",
        f"no settlement value for {underlying} {expiry.isoformat()} at "
        f"{as_of.astimezone(IST).isoformat()}: {reason}",
    )
