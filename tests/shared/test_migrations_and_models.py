"""The migrations build the tables the models describe, on PostgreSQL and SQLite alike."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Engine, inspect
from sqlmodel import Session, SQLModel

from optrade.db.models import (
    SNAPSHOT_FIELDS,
    Position,
    Trade,
    carried_trade_fields,
    trade_from_position,
)
from optrade.domain import snapshot_columns

pytestmark = pytest.mark.both_databases  # the embedded default is proven too


def test_migrated_schema_has_every_model_column(engine: Engine) -> None:
    inspector = inspect(engine)
    for table in SQLModel.metadata.sorted_tables:
        migrated = {c["name"] for c in inspector.get_columns(table.name)}
        assert migrated == {c.name for c in table.columns}, table.name


def test_trade_indexes_for_the_quality_and_listing_queries(engine: Engine) -> None:
    indexed = {tuple(ix["column_names"]) for ix in inspect(engine).get_indexes("trade")}
    assert ("closed_at",) in indexed
    assert ("model_version",) in indexed
    position_indexed = {tuple(ix["column_names"]) for ix in inspect(engine).get_indexes("position")}
    assert ("status",) in position_indexed


def test_every_entry_and_metadata_field_of_a_position_is_carried_to_its_trade() -> None:
    carried = set(carried_trade_fields())
    entry_fields = {name for name in Position.model_fields if name.startswith("entry_")}
    metadata = {"ml_score", "model_version", "model_hash", "features_snapshot"}
    identity = {"underlying", "expiry", "strike", "option_type", "side", "lot_size", "opened_at"}
    assert entry_fields == set(snapshot_columns("entry_")) | {
        "entry_price",
        "entry_price_source",
        "entry_spread",
    }
    assert entry_fields | metadata | identity <= carried
    assert set(snapshot_columns("exit_")) <= set(Trade.model_fields)
    assert len(SNAPSHOT_FIELDS) >= 16


def test_timestamps_round_trip_timezone_aware(engine: Engine) -> None:
    opened = datetime(2025, 12, 2, 4, 4, 45, tzinfo=UTC)
    position = Position(
        underlying="NIFTY",
        expiry=date(2025, 12, 2),
        strike=Decimal("26100"),
        option_type="PE",
        side="BUY",
        lot_size=75,
        lots=1,
        quantity_open=1,
        entry_price=Decimal("38.50"),
        entry_price_source="ask",
        opened_at=opened,
        entry_delta=-0.4,
        model_version="v1",
        features_snapshot={"rsi": 41.2},
    )
    with Session(engine) as session:
        session.add(position)
        session.commit()
        session.refresh(position)
        trade = trade_from_position(
            position,
            lots=1,
            exit_price=Decimal("69.20"),
            exit_price_source="bid",
            pnl=Decimal("2302.50"),
            closed_at=datetime(2025, 12, 2, 9, 43, 29, tzinfo=UTC),
        )
        session.add(trade)
        session.commit()
        session.refresh(trade)
    assert trade.opened_at == opened and trade.opened_at.tzinfo is not None
    assert trade.entry_delta == -0.4 and trade.features_snapshot == {"rsi": 41.2}
    assert trade.pnl == Decimal("2302.50")
