"""Trading symbols in the OpenAlgo/NSE form every Indian broker API speaks.

An index option is `<UNDERLYING><DD><MMM><YY><STRIKE><CE|PE>`, the strike without a trailing
`.0` (`NIFTY02DEC2526100PE`, `BANKNIFTY30DEC2559000CE`); weekly and monthly contracts share the
form. Options trade on exchange `NFO`. This is the one formatter and parser of the platform:
the services, the client and the CLI all use it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

EXCHANGE = "NFO"
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_PATTERN = re.compile(
    r"^(?P<underlying>[A-Z0-9&_-]+?)(?P<day>\d{2})(?P<month>" + "|".join(MONTHS) + r")"
    r"(?P<year>\d{2})(?P<strike>\d+(?:\.\d+)?)(?P<option_type>CE|PE)$"
)
SYMBOL_EXAMPLE = "NIFTY02DEC2526100PE"
SYMBOL_DESCRIPTION = (
    "trading symbol in the OpenAlgo/NSE form: underlying + expiry DDMMMYY + strike without "
    f"decimals + CE|PE, e.g. {SYMBOL_EXAMPLE}"
)


class SymbolError(ValueError):
    """The text is not an option trading symbol; the message says why."""


@dataclass(frozen=True)
class OptionSymbol:
    """The contract a trading symbol names."""

    underlying: str
    expiry: date
    strike: Decimal
    option_type: str  # CE | PE

    def __str__(self) -> str:
        return format_symbol(self.underlying, self.expiry, self.strike, self.option_type)


def format_strike(strike: Decimal | float | int | str) -> str:
    """The strike as symbols write it: `26100`, and `26112.5` only when it has a fraction."""
    value = Decimal(str(strike))
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


def format_symbol(
    underlying: str, expiry: date, strike: Decimal | float | int | str, option_type: str
) -> str:
    """`NIFTY02DEC2526100PE` from (NIFTY, 2025-12-02, 26100, PE)."""
    month = MONTHS[expiry.month - 1]
    kind = str(getattr(option_type, "value", option_type)).upper()
    day = f"{expiry.day:02d}{month}{expiry.year % 100:02d}"
    return f"{underlying.upper()}{day}{format_strike(strike)}{kind}"


def parse_symbol(symbol: str) -> OptionSymbol:
    """The contract named by `NIFTY02DEC2526100PE`; raise SymbolError naming what is wrong."""
    text = symbol.strip().upper()
    match = _PATTERN.match(text)
    if match is None:
        raise SymbolError(
            f"{symbol!r} is not an option symbol of the form underlying + DDMMMYY + strike + "
            f"CE|PE, e.g. {SYMBOL_EXAMPLE}"
        )
    try:
        expiry = date(
            2000 + int(match["year"]), MONTHS.index(match["month"]) + 1, int(match["day"])
        )
        strike = Decimal(match["strike"])
    except (ValueError, InvalidOperation) as exc:
        raise SymbolError(f"{symbol!r} names no real expiry date: {exc}") from None
    if strike <= 0:
        raise SymbolError(f"{symbol!r} has strike 0")
    return OptionSymbol(match["underlying"], expiry, strike, match["option_type"])
