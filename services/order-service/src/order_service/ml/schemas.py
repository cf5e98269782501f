"""Wire schemas of the ML endpoints: model performance and snapshot backfill."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, Field


class ModelPerformance(BaseModel):
    """How one model's closed trades did, and how complete their training records are.

    Counted over the trades in the window and mode; trades with a client exit price or a missing
    exit snapshot only when `include` names them (they are counted beside it either way)."""

    model_version: str | None = Field(description="null for trades sent without a model version")
    model_hash: str | None
    label: str = Field(description='the model version, or "unversioned"')
    trades: int = Field(description="closes counted (a partial close is one trade)")
    positions: int = Field(description="positions those trades closed (all or part of)")
    wins: int = Field(description="positions whose counted closes sum to pnl > 0")
    win_rate: float | None = Field(description="wins / positions, 0..1; null without positions")
    total_pnl: Decimal = Field(description="rupees, gross of charges")
    charges: Decimal | None = Field(
        description="rupees; null when a counted trade has no charges recorded (stored before "
        "charges were computed)"
    )
    net_pnl: Decimal | None = Field(description="rupees, total_pnl − charges; null as charges")
    mean_pnl: Decimal | None = Field(description="rupees per position, gross")
    weighted_return: float | None = Field(
        description="P&L-weighted return: total_pnl / Σ(entry_price × lots × lot_size), a "
        "fraction (0.1 = 10%)"
    )
    net_weighted_return: float | None = Field(description="net_pnl / the same premium")
    margin_blocked: Decimal | None = Field(
        None, description="rupees: Σ margin_blocked of the trades (null when one has none)"
    )
    return_on_margin: float | None = Field(
        None, description="net_pnl / margin_blocked: the seller's return (docs/accounts.md)"
    )
    mean_holding_seconds: float | None = Field(
        description="market time per trade: trading-session seconds between entry and exit"
    )
    complete_trades: int = Field(
        description="counted trades with every entry and exit Greek, chain and context field "
        "and all model metadata present"
    )
    completeness: float | None = Field(description="complete_trades / trades, 0..1")
    client_exit_trades: int = Field(
        description="trades in the window whose exit price was the client's (counted whether "
        "included or not)"
    )
    missing_exit_trades: int = Field(
        description="trades in the window with no exit snapshot (counted whether included or not)"
    )


class PerformanceReport(BaseModel):
    closed_from: datetime | None
    closed_to: datetime | None
    mode: str = Field(description="`live` or `replay`: which trades were counted")
    include: list[str] = Field(description="doubtful exits counted: `client`, `missing`")
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
