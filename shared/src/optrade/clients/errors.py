"""What the market-data client raises when it has no usable answer, in three kinds.

`QuoteUnavailable`: a provider (or every provider) failed; it counts against that provider's
circuit breaker. `QuoteNoData`: a live provider has nothing at this instant (stale is not dead);
the next provider is asked and no breaker counts it. `QuoteRejected`: the provider says the
option, expiry or underlying does not exist; the caller's mistake, not retried elsewhere.
"""

from __future__ import annotations


class MarketDataError(Exception):
    """No usable answer: the base of every error the market-data client raises."""


class QuoteUnavailable(MarketDataError):
    """A provider (or every provider) could not give a usable answer."""

    def __init__(self, provider: str, reason: str) -> None:
        super().__init__(f"{provider}: {reason}")
        self.provider = provider
        self.reason = reason


class QuoteNoData(QuoteUnavailable):
    """The provider has no data at this instant (stale, outside its history): a rejection of this
    request, not a provider failure; the next provider is asked and no breaker counts it."""


class QuoteRejected(MarketDataError):
    """The provider answered that the option does not exist: the caller's error, not an outage."""

    def __init__(self, field_name: str, detail: str, status_code: int) -> None:
        super().__init__(f"{field_name}: {detail}")
        self.field = field_name
        self.detail = detail
        self.status_code = status_code
