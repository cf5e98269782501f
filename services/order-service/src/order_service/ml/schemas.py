"""Wire schemas of the ML endpoints: model performance and snapshot backfill."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field


class CalibrationBin(BaseModel):
    """One of ten equal-width score bins: how often its positions won against their scores."""

    low: float = Field(description="the bin's lower edge (inclusive)")
    high: float = Field(description="its upper edge (exclusive; 1.0 inclusive)")
    count: int = Field(description="positions with a score in the bin")
    mean_score: float | None = Field(description="their mean ml_score; null when empty")
    win_rate: float | None = Field(description="their observed share of wins; null when empty")


class ScoreDecile(BaseModel):
    """Positions ranked by ml_score and cut into ten groups of equal count."""

    decile: int = Field(description="1 = the lowest scores")
    count: int
    min_score: float
    max_score: float
    net_pnl: float = Field(description="rupees, net of charges")
    mean_net_pnl: float = Field(description="rupees per position, net")
    net_return: float | None = Field(description="net_pnl / Σ premium, a fraction")


class Interval(BaseModel):
    """A figure and its bootstrap 95% interval (2,000 resamples of the positions, fixed seed)."""

    estimate: float | None
    low: float | None
    high: float | None


class Intervals(BaseModel):
    win_rate: Interval = Field(description="share of positions with net P&L > 0")
    mean_net_pnl: Interval = Field(description="rupees per position, net")
    auc: Interval = Field(description="ROC AUC of ml_score against the win")


class ModelPerformance(BaseModel):
    """How one model's closed trades did, and how complete their training records are.

    Counted over the trades in the window and mode; trades with a client exit price or a missing
    exit snapshot only when `include` names them (they are counted beside it either way)."""

    model_version: str | None = Field(description="null for trades sent without a model version")
    model_hash: str | None
    label: str = Field(description='the model version, or "unversioned"')
    trades: int = Field(description="closes counted (a partial close is one trade)")
    positions: int = Field(description="positions those trades closed (all or part of)")
    wins: int = Field(
        description="positions whose counted closes sum to net P&L > 0 (gross P&L for trades "
        "stored before charges were recorded)"
    )
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
    # Score quality, over positions: win = net P&L (gross where charges were never recorded)
    # summed over the position's counted closes > 0; score = the ml_score it was opened with.
    scored_positions: int = Field(0, description="positions opened with an ml_score")
    insufficient_data: bool = Field(
        True, description="fewer than 30 positions: treat every figure below as anecdotal"
    )
    auc: float | None = Field(
        None, description="ROC AUC of ml_score against the win; null with one class only"
    )
    brier: float | None = Field(None, description="mean (score − win)²")
    log_loss: float | None = Field(None, description="scores clipped to [1e-6, 1 − 1e-6]")
    calibration: list[CalibrationBin] = Field(
        default_factory=list, description="ten equal-width score bins"
    )
    deciles: list[ScoreDecile] = Field(
        default_factory=list, description="net P&L and return by score decile"
    )
    intervals: Intervals | None = Field(
        None, description="bootstrap 95% intervals (2,000 resamples, fixed seed: reproducible)"
    )


class PerformanceReport(BaseModel):
    closed_from: datetime | None
    closed_to: datetime | None
    mode: str = Field(description="`live` or `replay`: which trades were counted")
    include: list[str] = Field(description="doubtful exits counted: `client`, `missing`")
    models: list[ModelPerformance]


class CompareArm(BaseModel):
    model_version: str
    n: int = Field(description="positions the metric was computed over")
    value: float | None = Field(description="the metric; null when undefined (e.g. no wins)")


class ModelComparison(BaseModel):
    """candidate − baseline on one metric, with its bootstrap interval and a permutation test."""

    metric: str
    closed_from: datetime | None = Field(description="the window compared (both arms)")
    closed_to: datetime | None
    underlying: str | None
    mode: str
    baseline: CompareArm
    candidate: CompareArm
    difference: float | None = Field(description="candidate − baseline")
    low: float | None = Field(description="lower bound of the difference's bootstrap 95% interval")
    high: float | None = Field(description="upper bound")
    p_value: float | None = Field(
        description="two-sided permutation test (2,000 relabelings, fixed seed)"
    )


class GateVerdict(ModelComparison):
    """The regression gate: pass when `low` ≥ `min_delta`, insufficient_data below `min_n`."""

    verdict: Literal["pass", "fail", "insufficient_data"]
    min_delta: float
    min_n: int


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
