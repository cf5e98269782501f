"""Black-76: the premium of a European option on a forward, vectorised with numpy.

    call = e^{-rT} (F N(d1) - K N(d2)),   put = e^{-rT} (K N(-d2) - F N(-d1)),
    d1 = (ln(F/K) + s²/2) / s,   d2 = d1 - s,   s = sigma √T.

An index option is European and cash-settled, so Black-76 on the forward of its expiry is the
model the market-data service solves every IV with; the margin scan reprices with the same one.
Where s = 0 (at expiry, or a zero volatility) the premium is its limit, the discounted
intrinsic value e^{-rT} max(±(F - K), 0), not NaN. Inputs broadcast against each other.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.special import ndtr

FloatArray = npt.NDArray[np.float64]


def black76_price(
    forward: npt.ArrayLike,
    strike: npt.ArrayLike,
    t_years: npt.ArrayLike,
    sigma: npt.ArrayLike,
    rate: npt.ArrayLike,
    is_call: npt.ArrayLike,
) -> FloatArray:
    """The Black-76 premium of each option (the limit at s = 0: discounted intrinsic value)."""
    f = np.asarray(forward, dtype=np.float64)
    k = np.asarray(strike, dtype=np.float64)
    t = np.maximum(np.asarray(t_years, dtype=np.float64), 0.0)
    s = np.maximum(np.asarray(sigma, dtype=np.float64), 0.0) * np.sqrt(t)
    omega = np.where(np.asarray(is_call, dtype=bool), 1.0, -1.0)
    discount = np.exp(-np.asarray(rate, dtype=np.float64) * t)
    live = s > 0.0
    safe_s = np.where(live, s, 1.0)  # d1 is unused where s = 0; this only avoids 0/0
    d1 = (np.log(f / k) + 0.5 * safe_s * safe_s) / safe_s
    d2 = d1 - safe_s
    with_time = omega * (f * ndtr(omega * d1) - k * ndtr(omega * d2))
    intrinsic = np.maximum(omega * (f - k), 0.0)
    result: FloatArray = discount * np.where(live, with_time, intrinsic)
    return result
