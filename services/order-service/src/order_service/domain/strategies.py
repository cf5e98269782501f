"""The legs of a strategy resolved on one chain observation (docs/strategies.md).

A leg names its strike, or an offset from the ATM strike as OpenAlgo's `optionsorder` and
`optionsmultiorder` do: `ATM`, `ITM<n>`, `OTM<n>`. The ATM strike is the listed strike nearest
the forward the chain's IVs are solved on (spot where the chain gives no forward); on a tie the
lower strike (OpenAlgo takes the first of its ascending strikes). `n` steps are counted over the
strikes the chain lists for the leg's option type: out of the money is above ATM for a call and
below it for a put, in the money the other way.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal

from optrade.domain import OptionType

MAX_OFFSET = 50  # OpenAlgo's widest (ITM50, OTM50)
_OFFSET = re.compile(r"^(ATM|ITM(?P<itm>[1-9][0-9]?)|OTM(?P<otm>[1-9][0-9]?))$")


class OffsetError(ValueError):
    """An offset that cannot be resolved on this chain; the message says why."""


def offset_steps(offset: str, option_type: OptionType) -> int:
    """Strikes above (+) or below (-) ATM that `offset` means for `option_type`."""
    found = _OFFSET.match(offset.upper())
    if found is None:
        raise OffsetError(f"{offset!r} is not ATM, ITM<n> or OTM<n> (n 1..{MAX_OFFSET})")
    itm, otm = found.group("itm"), found.group("otm")
    n = int(itm or otm or 0)
    if n > MAX_OFFSET:
        raise OffsetError(f"{offset!r}: at most {MAX_OFFSET} strikes from ATM")
    away = n if otm else -n  # out of the money: away from the money
    return away if option_type == OptionType.CE else -away


def atm_strike(strikes: Sequence[Decimal], forward: float) -> Decimal:
    """The strike nearest `forward`; the lower one on a tie."""
    if not strikes:
        raise OffsetError("the chain lists no strike")
    at = Decimal(str(forward))
    return min(sorted(strikes), key=lambda strike: abs(strike - at))


def resolve_offset(
    offset: str, option_type: OptionType, strikes: Sequence[Decimal], forward: float
) -> Decimal:
    """The strike `offset` names among `strikes` (those listed for `option_type`)."""
    steps = offset_steps(offset, option_type)
    ordered = sorted(strikes)
    atm = ordered.index(atm_strike(ordered, forward))
    index = atm + steps
    if not 0 <= index < len(ordered):
        raise OffsetError(
            f"{offset} {option_type} is {abs(steps)} strikes {'above' if steps > 0 else 'below'} "
            f"ATM {ordered[atm]:f}, beyond the chain's {len(ordered)} listed strikes "
            f"({ordered[0]:f}..{ordered[-1]:f})"
        )
    return ordered[index]
