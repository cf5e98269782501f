"""Wire schemas of the ML endpoints: model performance and snapshot backfill."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field

from order_service.ml.attribution import attribution


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


class GreekAttribution(BaseModel):
    """A closed trade's P&L explained by each Greek, in rupees (see `ml.attribution`).

    From the entry Greeks: delta Δ·dS, gamma ½Γ·dS², theta Θ·calendar days held, vega ν·dIV
    (vol points), each × lots × lot_size × side sign; residual = pnl − explained. Null where an
    input is missing (e.g. no exit spot).
    """

    delta: float | None
    gamma: float | None
    theta: float | None
    vega: float | None
    explained: float | None = Field(description="delta + gamma + theta + vega")
    residual: float | None = Field(description="pnl − explained")

    @classmethod
    def of(cls, trade: Any) -> GreekAttribution:
        parts = attribution(trade)
        return cls(**{name.removeprefix("attr_"): value for name, value in parts.items()})
