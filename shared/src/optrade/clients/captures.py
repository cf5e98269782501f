"""What a capture asks the market data for and what it yields: one option's quote, or the whole
chain of one expiry at one instant, with the instance that served it and what was skipped.

`quote_problem` and `chain_problem` say why a well-formed answer is still unusable (non-finite,
for another contract, stale, from the future); the client turns that into `QuoteNoData` (stale)
or `QuoteUnavailable` (anything else).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from pydantic import BaseModel

from optrade.clients.errors import QuoteRejected
from optrade.clients.freshness import instant_problem
from optrade.schemas.market import ChainLeg, OptionChain, OptionQuote

# The chain fields a quote of one of its contracts carries over unchanged.
_CHAIN_CONTEXT = (
    "underlying", "expiry", "lot_size", "spot", "vix", "pcr", "as_of", "time_to_expiry_years",
    "rate", "forward", "provider", "instance", "as_of_source", "upstream_at",
)  # fmt: skip


@dataclass(frozen=True)
class QuoteRequest:
    """One option at one market instant (timezone-aware)."""

    underlying: str
    expiry: date
    strike: Decimal
    option_type: str
    as_of: datetime

    def params(self) -> dict[str, str]:
        strike = self.strike.to_integral_value() if self.strike % 1 == 0 else self.strike
        return {
            "expiry": self.expiry.isoformat(),
            "strike": str(strike),
            "option_type": self.option_type,
            "as_of": self.as_of.isoformat(),
        }


@dataclass(frozen=True)
class ChainRequest:
    """Every strike of one expiry at one market instant (timezone-aware)."""

    underlying: str
    expiry: date
    as_of: datetime

    def params(self) -> dict[str, str]:
        return {"expiry": self.expiry.isoformat(), "as_of": self.as_of.isoformat()}


@dataclass(frozen=True)
class CapturedQuote:
    """A usable quote, which instance served it, when, and why earlier instances did not."""

    quote: OptionQuote
    source: str  # primary | fallback
    captured_at: datetime
    skipped: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class CapturedChain:
    """One expiry's chain at one instant, all of it from one provider through one instance.

    Multi-leg strategies price every leg from one observation, and an exit snapshot is captured
    from the very observation that filled: `quote()` gives one contract of it as a
    `CapturedQuote` with the same source, instant and `captured_at`.
    """

    chain: OptionChain
    source: str  # primary | fallback
    captured_at: datetime
    skipped: tuple[str, ...] = field(default_factory=tuple)

    @property
    def provider(self) -> str:
        """The market that served the chain (simulated, nse-replay, openalgo, ...)."""
        return self.chain.provider

    def quote(self, strike: Decimal | float, option_type: str) -> CapturedQuote:
        """One contract of this observation; `QuoteRejected` naming the field when it is not
        listed (no such strike, or no such side at that strike)."""
        row = self.chain.strike(float(strike))
        if row is None:
            raise QuoteRejected(
                "strike",
                f"strike {float(strike):g} is not on the {self.chain.underlying} "
                f"{self.chain.expiry.isoformat()} chain",
                404,
            )
        leg = row.leg(option_type)
        if leg is None:
            raise QuoteRejected(
                "option_type",
                f"option_type {option_type} not listed for {self.chain.underlying} "
                f"{self.chain.expiry.isoformat()} at strike {row.strike:g}",
                404,
            )
        return CapturedQuote(
            _leg_quote(self.chain, row.strike, option_type, leg),
            self.source,
            self.captured_at,
            self.skipped,
        )


def _leg_quote(chain: OptionChain, strike: float, option_type: str, leg: ChainLeg) -> OptionQuote:
    context = {name: getattr(chain, name) for name in _CHAIN_CONTEXT}
    return OptionQuote(
        **context,
        **leg.model_dump(),
        strike=strike,
        option_type=option_type,  # type: ignore[arg-type]
    )


def _non_finite(model: BaseModel) -> str | None:
    """The first non-finite float field of `model`, None when every one is finite."""
    for name, value in model:
        if isinstance(value, float) and not math.isfinite(value):
            return name
    return None


def quote_problem(
    quote: OptionQuote, request: QuoteRequest, max_age: timedelta, max_skew: timedelta
) -> str | None:
    """Why a well-formed quote is still unusable for `request` (None when it is usable)."""
    if name := _non_finite(quote):
        return f"non-finite {name} in quote"
    asked = (request.underlying.upper(), request.expiry, float(request.strike), request.option_type)
    got = (quote.underlying.upper(), quote.expiry, quote.strike, str(quote.option_type))
    if asked != got:
        return f"quote is for {got}, asked for {asked}"
    if quote.lot_size <= 0:
        return f"invalid lot size {quote.lot_size}"
    return instant_problem("quote", quote.as_of, request.as_of, max_age, max_skew)


def chain_problem(
    chain: OptionChain, request: ChainRequest, max_age: timedelta, max_skew: timedelta
) -> str | None:
    """Why a well-formed chain is still unusable for `request` (None when it is usable)."""
    if name := _non_finite(chain):
        return f"non-finite {name} in chain"
    for row in chain.strikes:
        if not math.isfinite(row.strike):
            return "non-finite strike in chain"
        for side, leg in (("CE", row.ce), ("PE", row.pe)):
            if leg is not None and (name := _non_finite(leg)):
                return f"non-finite {name} of {row.strike:g} {side} in chain"
    asked = (request.underlying.upper(), request.expiry)
    got = (chain.underlying.upper(), chain.expiry)
    if asked != got:
        return f"chain is for {got}, asked for {asked}"
    if chain.lot_size <= 0:
        return f"invalid lot size {chain.lot_size}"
    if not chain.strikes:
        return "chain has no strikes"
    if _repeated(row.strike for row in chain.strikes):
        return "chain lists a strike twice"
    return instant_problem("chain", chain.as_of, request.as_of, max_age, max_skew)


def _repeated(strikes: Iterable[float]) -> bool:
    seen: set[float] = set()
    for strike in strikes:
        if strike in seen:
            return True
        seen.add(strike)
    return False
