"""The running stack (market-data simulated, order, quality) the client and CLI tests call."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from optrade_client import Optrade, RetryPolicy
from tests.conftest import TEST_API_KEY
from tests.reliability import conftest as reliability
from tests.reliability.conftest import Service

# The three services as real processes, one set per test module (shared with the reliability
# tests rather than written twice).
services = reliability.services


def urls(services: dict[str, Service]) -> dict[str, str]:
    return {name: service.url for name, service in services.items()}


@pytest.fixture(scope="module")
def optrade(services: dict[str, Service]) -> Iterator[Optrade]:
    with Optrade(urls(services), TEST_API_KEY, retry=RetryPolicy(attempts=3, budget=10)) as client:
        yield client


@pytest.fixture(scope="module")
def contract(optrade: Optrade) -> dict[str, Any]:
    """The at-the-money call of NIFTY's nearest live expiry: its symbol, lot size and expiry."""
    chain = optrade.chain("NIFTY")
    row = min(chain.strikes, key=lambda r: abs(r["strike"] - chain.spot) if r["ce"] else 1e12)
    return {"symbol": row["ce"]["symbol"], "lot_size": chain.lot_size, "expiry": chain.expiry,
            "strike": row["strike"]}  # fmt: skip


def signal(**overrides: Any) -> dict[str, Any]:
    """A model's signal: everything an order needs besides the contract and the size."""
    return {
        "side": "BUY", "ml_score": 0.74, "model_version": "client-v1", "model_hash": "ab12cd34ef",
        "features": {"rsi": 58.1, "iv_rank": 0.31}, **overrides,
    }  # fmt: skip
