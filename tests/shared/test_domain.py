"""The trading vocabulary: side signs, closing sides, the trade window and the record predicate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import (
    JSON,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    insert,
    select,
)

from optrade.domain import (
    EXPIRED,
    RECORD_COLUMNS,
    SECONDS_PER_YEAR,
    Side,
    SnapshotSource,
    TradeWindow,
    complete_record,
)

T0 = datetime(2025, 12, 1, 4, 0, tzinfo=UTC)


def test_side_sign_and_closing_side() -> None:
    assert (Side.BUY.sign, Side.SELL.sign) == (1, -1)
    assert (Side.BUY.closing, Side.SELL.closing) == (Side.SELL, Side.BUY)
    assert Side("SELL").closing.sign == 1


def test_seconds_per_year_is_act_365() -> None:
    assert SECONDS_PER_YEAR == 365 * 24 * 3600


@pytest.mark.parametrize("end", [T0, T0 - timedelta(seconds=1)])
def test_window_refuses_to_not_later_than_from_naming_to(end: datetime) -> None:
    with pytest.raises(ValidationError) as raised:
        TradeWindow.model_validate({"from": T0, "to": end})
    assert [e["loc"] for e in raised.value.errors()] == [("to",)]


def test_window_accepts_open_ends_and_upper_cases_the_underlying() -> None:
    window = TradeWindow.model_validate({"from": T0, "underlying": "nifty"})
    assert (window.start, window.end, window.underlying) == (T0, None, "NIFTY")


def test_complete_record_needs_every_field_and_a_non_empty_features_object() -> None:
    metadata = MetaData()
    names = [name for name in RECORD_COLUMNS if name != "features_snapshot"]
    table = Table(
        "trade",
        metadata,
        Column("id", Integer, primary_key=True),
        *(Column(name, Integer) for name in names),
        Column("features_snapshot", JSON),
    )
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    full = dict.fromkeys(names, 1)
    rows = [
        {"id": 1, **full, "features_snapshot": {"rsi": 1}},  # complete
        {"id": 2, **full, "features_snapshot": {}},  # empty features
        {"id": 3, **full, "exit_iv": None, "features_snapshot": {"rsi": 1}},
        {"id": 4, **full, "features_snapshot": None},
    ]
    with engine.begin() as conn:
        conn.execute(insert(table), rows)
        complete = conn.execute(
            select(table.c.id).where(complete_record(table.c, "sqlite")).order_by(table.c.id)
        )
        assert [row.id for row in complete] == [1]
        greeks_only = complete_record(table.c, "sqlite", ["entry_iv", "exit_iv"])
        assert [r.id for r in conn.execute(select(table.c.id).where(greeks_only))] == [1, 2, 4]


def test_a_settled_trade_is_complete_without_exit_iv_and_no_other_exit_is() -> None:
    """IV is undefined at expiry; a settlement trade records it null with the reason `expired`."""
    table = Table(
        "t", MetaData(), Column("id", Integer, primary_key=True), Column("exit_iv", Integer),
        Column("exit_delta", Integer), Column("exit_source", String), Column("exit_error", String),
        Column("features_snapshot", JSON),
    )  # fmt: skip
    engine = create_engine("sqlite://")
    table.metadata.create_all(engine)
    settled = {"exit_source": SnapshotSource.SETTLEMENT.value, "exit_error": EXPIRED}
    with engine.begin() as conn:
        conn.execute(insert(table), [
            {"id": 1, "exit_iv": None, "exit_delta": -1, **settled},
            {"id": 2, "exit_iv": None, "exit_delta": None, **settled},  # delta is still needed
            {"id": 3, "exit_iv": None, "exit_delta": 0, "exit_source": "primary",
             "exit_error": "greeks: no solution"},
            {"id": 4, "exit_iv": 12, "exit_delta": 0, "exit_source": "primary", "exit_error": None},
        ])  # fmt: skip
        condition = complete_record(table.c, "sqlite", ["exit_iv", "exit_delta"])
        complete = conn.execute(select(table.c.id).where(condition).order_by(table.c.id))
        assert complete.scalars().all() == [1, 4]
