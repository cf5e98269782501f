"""A strategy opens whole or not at all, and once per key, on PostgreSQL and SQLite alike: a leg
on an unlisted strike refuses the strategy naming that leg with nothing written, and twenty
concurrent retries of one request with one key open one strategy (the losers roll back every
leg they inserted)."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from optrade.calendar import IST
from optrade.db.models import Order, Position, Strategy, Trade
from tests.support.orders_processes import AUTH
from tests.support.processes import ServiceProcess

pytestmark = [pytest.mark.slow, pytest.mark.both_databases]
MORNING = datetime(2025, 12, 2, 9, 34, 45, tzinfo=IST)
WEEKLY = date(2025, 12, 9)


def straddle(*legs: dict[str, Any]) -> dict[str, Any]:
    return {
        "strategy": "short_straddle", "underlying": "NIFTY", "expiry": WEEKLY.isoformat(),
        "legs": list(legs), "ml_score": 0.6, "model_version": "atomic-v1",
        "model_hash": "abc1234", "features_snapshot": {"rsi": 48.0},
        "as_of": MORNING.isoformat(),
    }  # fmt: skip


def leg(strike: str, option_type: str) -> dict[str, Any]:
    return {"side": "SELL", "strike": strike, "option_type": option_type, "lots": 1}


def rows(engine: Engine) -> dict[str, int]:
    with Session(engine) as session:
        return {
            table.__name__: session.exec(select(func.count()).select_from(table)).one()
            for table in (Strategy, Order, Position, Trade)
        }


def test_an_unlisted_strike_refuses_the_strategy_naming_its_leg_and_writes_nothing(
    orders_on_replay: ServiceProcess, engine: Engine
) -> None:
    before = rows(engine)
    body = straddle(leg("26100", "CE"), leg("26123", "PE"))
    refused = httpx.post(f"{orders_on_replay.url}/v1/strategies", json=body, headers=AUTH,
                         timeout=60)  # fmt: skip
    assert refused.status_code == 422, refused.text
    (error,) = refused.json()["errors"]
    assert error["field"] == "legs.1.strike" and "26123" in error["reason"]
    assert rows(engine) == before  # no strategy (nor its margin), no order, no position


def test_twenty_concurrent_retries_with_one_key_open_one_strategy(
    orders_on_replay: ServiceProcess, engine: Engine
) -> None:
    body = straddle(leg("26100", "CE"), leg("26100", "PE"))
    headers = {**AUTH, "Idempotency-Key": "straddle-burst-1"}
    start = threading.Barrier(20)

    def one(_: int) -> httpx.Response:
        with httpx.Client(timeout=120) as client:
            start.wait()
            return client.post(f"{orders_on_replay.url}/v1/strategies", json=body, headers=headers)

    with ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(one, range(20)))
    assert Counter(r.status_code for r in responses) == {201: 20}, [r.text for r in responses][:3]
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 19
    positions = {tuple(leg["position_id"] for leg in r.json()["legs"]) for r in responses}
    assert len(positions) == 1
    with Session(engine) as session:
        strategies = session.exec(
            select(Strategy).where(Strategy.idempotency_key == "straddle-burst-1")
        ).all()
        legs = session.exec(select(Position).where(Position.model_version == "atomic-v1")).all()
        orders = session.exec(select(Order).where(Order.model_version == "atomic-v1")).all()
    assert len(strategies) == 1
    assert sorted(p.strategy_id for p in legs) == [strategies[0].id] * 2
    assert sorted(o.strategy_id for o in orders) == [strategies[0].id] * 2

    reused = httpx.post(f"{orders_on_replay.url}/v1/strategies", headers=headers, timeout=60,
                        json=straddle(leg("26000", "CE"), leg("26000", "PE")))  # fmt: skip
    assert reused.status_code == 422 and reused.json()["errors"][0]["field"] == "Idempotency-Key"
