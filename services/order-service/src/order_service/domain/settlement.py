"""Cash settlement of an index option at expiry: intrinsic value against the index close.

NSE index options are European and cash-settled at 15:30 IST on their expiry day, at intrinsic
value against the index's official close (the 15:00-15:30 weighted average).
"""

from __future__ import annotations

from decimal import Decimal

from optrade.domain import OptionType

PAISA = Decimal("0.01")


def intrinsic(option_type: str, index_close: Decimal, strike: Decimal) -> Decimal:
    """Cash-settlement value of one unit: max(S - K, 0) for a call, max(K - S, 0) for a put."""
    value = index_close - strike if option_type == OptionType.CE else strike - index_close
    return max(value, Decimal(0)).quantize(PAISA)


def expiry_delta(option_type: str, index_close: Decimal, strike: Decimal) -> float:
    """The option's delta at expiry: 1 (call) or -1 (put) in the money, else 0."""
    if option_type == OptionType.CE:
        return 1.0 if index_close > strike else 0.0
    return -1.0 if index_close < strike else 0.0
