"""Wire schemas of the ML endpoints: model performance and snapshot backfill."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, Field


class ModelPerformance(BaseModel):
    """How one model's closed trades did, and how complete their training records are."""

    model_version: str | None = Field(description="null for trades sent without a model version")
    model_hash: str | None
    label: str = Field(description='the model version, or "unversioned"')
    trades: int
    wins: int = Field(description="trades with pnl > 0")
    win_rate: float = Field(description="wins / trades, 0..1")
    total_pnl: Decimal = Field(description="rupees")
    mean_pnl: Decimal = Field(description="rupees per trade")
    mean_return: float | None = Field(
        description="mean of pnl / (entry_price × lots × lot_size), a fraction (0.1 = 10%)"
    )
    mean_holding_seconds: float | None
    complete_trades: int = Field(
        description="trades with every entry and exit Greek, chain and context field and all "
        "model metadata present"
    )
    completeness: float = Field(description="complete_trades / trades, 0..1")


class PerformanceReport(BaseModel):
    closed_from: datetime | None
    closed_to: datetime | None
    models: list[ModelPerformance]


class SideBackfill(BaseModel):
    """What one pass over one side's (entry or exit) missing snapshots did."""

    examined: int = Field(description="trades whose snapshot was missing and were asked about")
    repaired: int = Field(description="snapshots filled from a provider and marked `backfill`")
    still_missing: int = Field(description="trades no provider could answer for; reason stored")
    skipped: int = Field(
        description="repaired meanwhile by a concurrent run (the update found no missing row)"
    )


class BackfillReport(BaseModel):
    """One bounded backfill run; call again with `after_id=next_after_id` while it is not null."""

    started_at: datetime
    finished_at: datetime
    limit: int
    after_id: int
    entry: SideBackfill
    exit: SideBackfill
    next_after_id: int | None = Field(
        description="highest trade id examined when the limit was reached (more may remain); "
        "null when every missing snapshot after `after_id` was examined"
    )
