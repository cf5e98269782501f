"""Wire and stored shapes of a quality run (the `quality_run.checks` JSON is `CheckResult`s)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field


class CheckStatus(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    NO_DATA = "no_data"


class RunStatus(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    NO_DATA = "no_data"
    SKIPPED = "skipped"  # a scheduled slot on a day NSE does not trade
    RUNNING = "running"  # only ever seen inside the run's own transaction


class Trigger(StrEnum):
    SCHEDULED = "scheduled"
    MANUAL = "manual"
    BACKFILL = "backfill"  # the daily re-check after the snapshot backfill
    RECHECK = "recheck"  # trades closed into a trading date's window after its run


class FieldCount(BaseModel):
    name: str = Field(description="trade column, e.g. entry_delta")
    label: str
    present: int
    total: int
    coverage: float | None = Field(description="percent of trades with the field present")


class GroupCoverage(BaseModel):
    value: str | None = Field(description="the group's value; null groups trades without one")
    total: int
    passed: int
    coverage: float | None


class CheckBreakdown(BaseModel):
    model_version: list[GroupCoverage] = []
    entry_source: list[GroupCoverage] = []
    exit_source: list[GroupCoverage] = []


class FeatureDrift(BaseModel):
    """One numeric feature of one model version: the session against its reference window."""

    model_version: str | None
    feature: str = Field(description="the top-level key of features_snapshot")
    reference_n: int = Field(description="values in the reference window")
    session_n: int = Field(description="values in the checked trades")
    psi: float | None = Field(
        description="population stability index, 10 bins at the reference's deciles; null "
        "when either side has fewer than QUALITY_DRIFT_MIN_SAMPLES values"
    )
    ks: float | None = Field(description="two-sample Kolmogorov–Smirnov statistic")
    ks_p_value: float | None
    status: CheckStatus = Field(description="warn above QUALITY_DRIFT_WARN_PSI, fail see check")


class CheckResult(BaseModel):
    name: str
    label: str
    kind: Literal["trades", "positions", "features"] = Field(
        "trades",
        description="trades: a coverage check over the window's closed trades (thresholds in "
        "percent); positions: open_past_expiry, a count of positions (threshold in positions); "
        "features: feature_drift (threshold: the PSI that fails when QUALITY_DRIFT_FAILS=true, "
        "warn_below: the PSI above which it warns; total/passed count features compared/stable)",
    )
    status: CheckStatus
    threshold: float = Field(
        description="fail below this coverage, percent (positions: fail above this count)"
    )
    warn_below: float = Field(description="warn below this coverage, percent")
    total: int
    passed: int = Field(description="trades with every field of the check present")
    coverage: float | None = Field(description="passed / total in percent; null without trades")
    fields: list[FieldCount]
    breakdown: CheckBreakdown
    failing_trade_ids: list[int] = Field(
        description="up to QUALITY_FAILING_IDS_LIMIT, by id (positions: the stranded position ids)"
    )
    backfilled: int = Field(
        0,
        description="of the passing trades, those with a snapshot this check reads repaired by "
        "the backfill (source `backfill`) rather than captured live",
    )
    drift: list[FeatureDrift] = Field(
        default_factory=list, description="feature_drift: every feature compared"
    )
    drifted_features: list[str] = Field(
        default_factory=list, description="feature_drift: the features above the warning PSI"
    )


class TrainingOutcome(BaseModel):
    """The end-of-day training command run after a passing scheduled run."""

    status: str = Field(description="running | succeeded | failed | timed_out | error")
    command: str | None = None
    started_at: datetime | None = None
    exit_code: int | None = Field(None, description="null when it timed out or did not start")
    duration_seconds: float | None = None
    output_tail: str | None = Field(None, description="the last characters of its output")
    export_path: str | None = Field(None, description="the local file it was given")


class AlertRecord(BaseModel):
    """One notice of a run: a check's failure or recovery, and whether it reached anyone."""

    check: str
    kind: str = Field(description="failure | recovery")
    delivered: bool | None = None
    error: str | None = None
    suppressed: str | None = Field(None, description="why it was not sent, e.g. cooldown")


class RunDetails(BaseModel):
    """What a run records beside its counts (stored as JSON in `quality_run.details`)."""

    window_label: str | None = Field(None, description="'today', 'the last 7 days' or a date")
    lookback_days: int | None = Field(None, description="manual runs: the days looked back")
    duration_ms: float | None = Field(None, description="time spent counting and grading")
    backfill: dict[str, Any] | None = Field(
        None, description="backfill runs: what the backfill examined, repaired and left missing"
    )
    before_run_id: int | None = Field(
        None, description="backfill runs: the scheduled run of the same date, before the backfill"
    )
    coverage_before: dict[str, float | None] | None = Field(
        None, description="backfill runs: coverage percent per check before the backfill"
    )
    alerts: list[AlertRecord] = Field(
        default_factory=list, description="notices sent or suppressed"
    )
    missed: bool = Field(False, description="a scheduled run made up for by the catch-up")
    mode: str | None = Field(None, description="the trades counted: live, replay or all")
    counted_ids: list[tuple[int, int]] | None = Field(
        None, description="the ids of the trades counted, as inclusive ranges of consecutive ids"
    )
    recheck: int | None = Field(None, description="re-check runs: the how-many-th of the date")

    @classmethod
    def of(cls, stored: dict[str, Any] | None) -> RunDetails:
        """The typed details of a stored run (older rows may lack any key)."""
        return cls.model_validate(stored or {})

    def stored(self) -> dict[str, Any]:
        """The JSON stored in `quality_run.details`: only the keys that say something."""
        return self.model_dump(mode="json", exclude_defaults=True)


class QualityRunPublic(BaseModel):
    id: int
    trigger: Trigger
    status: RunStatus
    trading_date: date | None = Field(description="IST trading date of a scheduled run")
    window_start: datetime = Field(
        description="UTC, inclusive: 00:00 IST of the first day (manual), the previous trading "
        "day's 15:45 IST (scheduled, recheck, backfill), or `from`"
    )
    window_end: datetime = Field(
        description="UTC, exclusive: 00:00 IST after the last day (manual), the trading date's "
        "15:45 IST (scheduled, recheck, backfill), or `to`"
    )
    mode: str | None = Field(None, description="trades counted: live, replay or all")
    counted_trades_url: str | None = Field(
        None, description="where the trades this run counted are exported (parquet; ?format=csv)"
    )
    window_label: str | None = Field(description="'today', 'the last 7 days' or a date")
    started_at: datetime
    finished_at: datetime | None
    total_trades: int
    thresholds: dict[str, float]
    checks: list[CheckResult]
    alerts: list[dict[str, Any]] = Field(description="webhook notices sent or suppressed")
    note: str | None
    before_run_id: int | None = Field(
        None, description="backfill runs: the scheduled run of the same date, before the backfill"
    )
    coverage_before: dict[str, float | None] | None = Field(
        None, description="backfill runs: coverage percent per check before the backfill"
    )
    backfill: dict[str, Any] | None = Field(
        None, description="backfill runs: what the backfill examined, repaired and left missing"
    )
    training: TrainingOutcome | None = Field(
        None, description="scheduled runs: the end-of-day training command run after it"
    )


class RunSummary(BaseModel):
    id: int
    trigger: Trigger
    status: RunStatus
    trading_date: date | None
    started_at: datetime
    total_trades: int
    coverage: dict[str, float | None] = Field(description="coverage percent per check")


class RunPage(BaseModel):
    items: list[QualityRunPublic]
    total: int
    limit: int
    offset: int


class OverallStatus(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    NO_DATA = "no_data"
    NEVER_RUN = "never_run"


class QualityStatus(BaseModel):
    status: OverallStatus = Field(description="status of the latest evaluated run")
    latest_run: QualityRunPublic | None
    checks: list[CheckResult]
    next_scheduled_run: datetime = Field(description="IST (+05:30)")
    overdue: bool = Field(description="a trading day's 16:30 IST passed without a scheduled run")
    overdue_trading_date: date | None
    recent_runs: list[RunSummary] = Field(description="the last 7 runs, newest first")
    calendar_warning: str | None
    as_of: datetime = Field(description="IST")


class QueuedTask(BaseModel):
    task_id: str = Field(description="the Celery task id (also in the worker's log lines)")
    task: str
    trading_date: date
