"""Settlement values by hand: intrinsic value and delta at expiry, P&L to the paisa."""

from __future__ import annotations

from decimal import Decimal

import pytest

from order_service.domain.settlement import expiry_delta, intrinsic
from order_service.fills import pnl

CLOSE = Decimal("26032.20")  # NSE's official NIFTY close on 02-Dec-2025


@pytest.mark.parametrize(
    ("option_type", "strike", "value", "delta"),
    [
        ("PE", "26100", "67.80", -1.0),  # the README's worked example
        ("PE", "26050", "17.80", -1.0),  # the README: the 26050 PE's intrinsic value
        ("PE", "26000", "0.00", 0.0),
        ("CE", "26000", "32.20", 1.0),
        ("CE", "26050", "0.00", 0.0),
        ("CE", "26032.20", "0.00", 0.0),  # at the money exactly: worth nothing
    ],
)
def test_intrinsic_value_and_delta_at_expiry(
    option_type: str, strike: str, value: str, delta: float
) -> None:
    assert intrinsic(option_type, CLOSE, Decimal(strike)) == Decimal(value)
    assert expiry_delta(option_type, CLOSE, Decimal(strike)) == delta


def test_the_readme_pnl_to_the_paisa() -> None:
    exit_price = intrinsic("PE", CLOSE, Decimal("26100"))
    assert pnl(side="BUY", entry=Decimal("38.50"), exit_=exit_price, lots=1, lot_size=75) == (
        Decimal("2197.50")
    )
    # A short of the same put loses the same amount; two lots of it twice that.
    assert pnl(side="SELL", entry=Decimal("38.50"), exit_=exit_price, lots=2, lot_size=75) == (
        Decimal("-4395.00")
    )
