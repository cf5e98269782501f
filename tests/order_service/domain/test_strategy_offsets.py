"""Offsets (ATM, ITM<n>, OTM<n>) resolve against the ATM strike of one chain the way OpenAlgo
resolves them: ITM is below ATM for a call and above it for a put, OTM the other way."""

from __future__ import annotations

from decimal import Decimal

import pytest

from optrade.domain import OptionType
from order_service.domain.strategies import OffsetError, atm_strike, resolve_offset

STRIKES = [Decimal(s) for s in range(25800, 26301, 50)]
CE, PE = OptionType.CE, OptionType.PE


def test_atm_is_the_strike_nearest_the_forward() -> None:
    assert atm_strike(STRIKES, 25966.05) == Decimal(25950)
    assert atm_strike(STRIKES, 25990.0) == Decimal(26000)


def test_a_forward_halfway_between_two_strikes_takes_the_lower() -> None:
    assert atm_strike(STRIKES, 25975.0) == Decimal(25950)


@pytest.mark.parametrize(
    ("offset", "option_type", "strike"),
    [
        ("ATM", CE, 25950), ("ATM", PE, 25950),
        ("ITM2", CE, 25850), ("OTM2", CE, 26050),
        ("ITM4", PE, 26150), ("OTM2", PE, 25850),
        ("otm1", CE, 26000),
    ],
)  # fmt: skip
def test_offsets_resolve_as_openalgo_does(
    offset: str, option_type: OptionType, strike: int
) -> None:
    # OpenAlgo's documented example: NIFTY at 25966.05, ITM4 PE is 26150.
    assert resolve_offset(offset, option_type, STRIKES, 25966.05) == Decimal(strike)


def test_steps_count_listed_strikes_not_a_fixed_interval() -> None:
    uneven = [Decimal(25900), Decimal(26000), Decimal(26050), Decimal(26200)]
    assert resolve_offset("OTM2", CE, uneven, 26001.0) == Decimal(26200)


@pytest.mark.parametrize("offset", ["ATM1", "ITM0", "OTM", "OTM51", "FAR2", ""])
def test_an_offset_that_is_not_one_is_refused(offset: str) -> None:
    with pytest.raises(OffsetError):
        resolve_offset(offset, CE, STRIKES, 25966.05)


def test_an_offset_beyond_the_listed_strikes_says_how_far_the_chain_goes() -> None:
    with pytest.raises(OffsetError, match="beyond the chain's 11 listed strikes"):
        resolve_offset("OTM8", CE, STRIKES, 25966.05)
