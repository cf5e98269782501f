"""Trading symbols in the OpenAlgo/NSE form, formatted and parsed by the one shared module."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from optrade.symbols import OptionSymbol, SymbolError, format_symbol, parse_symbol


@pytest.mark.parametrize(
    ("parts", "symbol"),
    [
        (("NIFTY", date(2025, 12, 2), 26100, "PE"), "NIFTY02DEC2526100PE"),
        (("NIFTY", date(2025, 12, 30), Decimal("26000.00"), "CE"), "NIFTY30DEC2526000CE"),
        (("BANKNIFTY", date(2025, 12, 30), 59000.0, "PE"), "BANKNIFTY30DEC2559000PE"),
        (("FINNIFTY", date(2026, 1, 27), 27000, "CE"), "FINNIFTY27JAN2627000CE"),
        (("nifty", date(2026, 3, 3), Decimal("24512.50"), "ce"), "NIFTY03MAR2624512.5CE"),
    ],
)
def test_symbols_are_written_as_brokers_write_them(parts: tuple[Any, ...], symbol: str) -> None:
    assert format_symbol(*parts) == symbol
    parsed = parse_symbol(symbol)
    assert parsed.underlying == parts[0].upper() and parsed.expiry == parts[1]
    assert parsed.strike == Decimal(str(parts[2])) and parsed.option_type == parts[3].upper()
    assert str(parsed) == symbol


def test_an_underlying_with_digits_parses() -> None:
    parsed = parse_symbol("NIFTYNXT5030DEC2570000CE")
    assert parsed == OptionSymbol("NIFTYNXT50", date(2025, 12, 30), Decimal(70000), "CE")


@pytest.mark.parametrize(
    "text",
    ["NIFTY", "NIFTY02DEC2526100XX", "NIFTY31FEB2526100CE", "NIFTY02DEC250CE", "02DEC2526100CE"],
)
def test_what_is_not_a_symbol_is_refused_with_the_expected_form(text: str) -> None:
    with pytest.raises(SymbolError, match=text):
        parse_symbol(text)
