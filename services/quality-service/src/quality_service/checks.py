"""The five completeness checks of DESIGN section 6, counted by the database (the sixth,
`open_past_expiry`, counts positions: `expiry_check`).

A settled trade (exit source `settlement`, exit error `expired`) has no exit IV: volatility is
undefined at expiry. Its exit IV counts as present, so `exit_greeks` accepts it; its other exit
Greeks (delta 0 or ±1, gamma, theta, vega 0) must still be there.

`count_window` is the one aggregate query of a run: a single scan of the trades closed in the
window that counts, for every field and every check, the trades with the field(s) present, grouped
by (model_version, entry_source, exit_source) and by whether the JSON features are present
(a test that costs more per row than all the null counts together, so it runs once per row as a
grouping key, not in every aggregate that needs it). That finest grouping has at most
versions x sources x sources x 2 rows, so the totals and the three breakdowns are sums over a
handful of group rows in Python: no trade row ever leaves the database, and the same SQL runs on
PostgreSQL and SQLite (SQLite has no GROUPING SETS; PostgreSQL's would scan no less).
`failing_samples` is a second, bounded query (at most `limit` ids per failing check), sent only
when some check has failures.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    RowMapping,
    Select,
    and_,
    case,
    func,
    literal,
    literal_column,
    select,
    text,
    union_all,
)

from optrade.db.models import Trade
from optrade.domain import (
    CHAIN_FIELDS,
    CONTEXT_FIELDS,
    GREEK_FIELDS,
    METADATA_FIELDS,
    SnapshotSource,
    complete_record,
)
from optrade.domain.completeness import JSON_OBJECT_COLUMNS
from optrade.domain.completeness import field_present as domain_field_present
from quality_service.schemas import (
    CheckBreakdown,
    CheckResult,
    CheckStatus,
    FieldCount,
    GroupCoverage,
)

TRADE = Trade.__table__  # type: ignore[attr-defined]
GROUP_KEYS = ("model_version", "entry_source", "exit_source")
_LABELS = {
    "iv": "IV", "oi": "OI", "vix": "VIX", "pcr": "PCR", "ml_score": "ML score",
    "model_version": "Model version", "model_hash": "Model hash",
    "features_snapshot": "Features snapshot",
}  # fmt: skip


@dataclass(frozen=True)
class FieldSpec:
    column: str
    label: str


@dataclass(frozen=True)
class CheckSpec:
    name: str
    label: str
    fields: tuple[FieldSpec, ...]

    @property
    def snapshot_sides(self) -> tuple[str, ...]:
        """`entry` and/or `exit`: the snapshots whose columns this check reads."""
        return tuple(
            side
            for side in ("entry", "exit")
            if any(f.column.startswith(f"{side}_") for f in self.fields)
        )


def _label(name: str) -> str:
    return _LABELS.get(name, name.replace("_", " ").capitalize())


def _snapshot(prefixes: Sequence[str], names: Sequence[str], *, side_label: bool) -> tuple:
    return tuple(
        FieldSpec(
            f"{prefix}{name}",
            f"{prefix[:-1].capitalize()} {_label(name)}" if side_label else _label(name),
        )
        for prefix in prefixes
        for name in names
    )


# Built from the model's field groups, so a field added to a group is checked without an edit here.
CHECKS: tuple[CheckSpec, ...] = (
    CheckSpec(
        "entry_greeks", "Entry Greeks", _snapshot(["entry_"], GREEK_FIELDS, side_label=False)
    ),
    CheckSpec("exit_greeks", "Exit Greeks", _snapshot(["exit_"], GREEK_FIELDS, side_label=False)),
    CheckSpec(
        "ml_metadata", "ML Metadata", tuple(FieldSpec(n, _label(n)) for n in METADATA_FIELDS)
    ),
    CheckSpec(
        "market_context",
        "Market Context",
        _snapshot(["entry_", "exit_"], CONTEXT_FIELDS, side_label=True),
    ),
    CheckSpec(
        "chain_data", "Chain Data", _snapshot(["entry_", "exit_"], CHAIN_FIELDS, side_label=True)
    ),
)
CHECK_NAMES = tuple(check.name for check in CHECKS)


@dataclass
class GroupCounts:
    """Counts of one (model_version, entry_source, exit_source) group."""

    key: dict[str, str | None]
    total: int
    fields: dict[str, int]
    checks: dict[str, int]


@dataclass
class WindowCounts:
    groups: list[GroupCounts] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(g.total for g in self.groups)

    def field_present(self, column: str) -> int:
        return sum(g.fields[column] for g in self.groups)

    def check_passed(self, check: str) -> int:
        return sum(g.checks[check] for g in self.groups)

    def check_backfilled(self, check: CheckSpec) -> int:
        """Passing trades with a snapshot this check reads repaired by the backfill."""
        sides = check.snapshot_sides
        return sum(
            g.checks[check.name]
            for g in self.groups
            if any(g.key[f"{side}_source"] == SnapshotSource.BACKFILL for side in sides)
        )


def _present(column: str, dialect: str) -> ColumnElement[bool]:
    """SQL that is true when the trade has `column` (see `optrade.domain.field_present`: a
    settled trade's undefined exit IV counts as present)."""
    return domain_field_present(TRADE.c, column, dialect)


def check_condition(check: CheckSpec, dialect: str) -> ColumnElement[bool]:
    """SQL that is true when the trade passes `check`: its fields form a complete record."""
    return complete_record(TRADE.c, dialect, (f.column for f in check.fields))


def in_window(
    start: datetime, end: datetime, where: ColumnElement[bool] | None = None
) -> ColumnElement[bool]:
    """Closed in [start, end), and `where` (the run's further scope: mode, ids counted already)."""
    window = and_(TRADE.c.closed_at >= start, TRADE.c.closed_at < end)
    return window if where is None else and_(window, where)


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.count(case((condition, 1)))


# Columns whose presence is a JSON test (a non-empty object), not IS NOT NULL. That test costs
# far more per row than a null test, so the count query evaluates it once per row, as a grouping
# key, instead of once in each aggregate that needs it; the counts follow from the group totals.
JSON_COLUMNS = tuple(
    column
    for column in dict.fromkeys(f.column for check in CHECKS for f in check.fields)
    if column in JSON_OBJECT_COLUMNS
)


def _plain_columns(check: CheckSpec) -> list[str]:
    return [f.column for f in check.fields if f.column not in JSON_COLUMNS]


def count_query(
    start: datetime, end: datetime, dialect: str, where: ColumnElement[bool] | None = None
) -> Select:
    """The one aggregate query: per group (and per JSON column present or not), the trades,
    per-field presence and per-check passes of the fields tested by IS NOT NULL."""
    keys = [TRADE.c[k] for k in GROUP_KEYS]
    flags = [_present(column, dialect).label(f"j_{column}") for column in JSON_COLUMNS]
    fields = [
        (
            func.count(TRADE.c[column])
            if column != "exit_iv"
            else _count_if(_present(column, dialect))
        ).label(f"f_{column}")
        for column in dict.fromkeys(f.column for check in CHECKS for f in check.fields)
        if column not in JSON_COLUMNS
    ]
    checks = [
        (_count_if(complete_record(TRADE.c, dialect, plain)) if (plain := _plain_columns(c))
         else func.count()).label(f"c_{c.name}")
        for c in CHECKS
    ]  # fmt: skip
    # GROUP BY the flags by position: the same expression written twice is two statements'
    # worth of bound parameters on some dialects.
    positions: list[ColumnElement[Any]] = [
        literal_column(str(len(keys) + 1 + i)) for i in range(len(flags))
    ]
    return (
        select(*keys, *flags, func.count().label("total"), *fields, *checks)
        .where(in_window(start, end, where))
        .group_by(*keys, *positions)
    )


def _group(row: RowMapping, columns: Sequence[str]) -> GroupCounts:
    """One row of the count query as the counts of its group."""
    total = int(row["total"])
    has = {column: bool(row[f"j_{column}"]) for column in JSON_COLUMNS}
    fields = {
        c: (total if has[c] else 0) if c in JSON_COLUMNS else int(row[f"f_{c}"]) for c in columns
    }
    checks = {
        c.name: int(row[f"c_{c.name}"])
        if all(has[f.column] for f in c.fields if f.column in JSON_COLUMNS)
        else 0
        for c in CHECKS
    }
    return GroupCounts(
        key={k: row[k] for k in GROUP_KEYS}, total=total, fields=fields, checks=checks
    )


def count_window(
    conn: Connection, start: datetime, end: datetime, where: ColumnElement[bool] | None = None
) -> WindowCounts:
    """Count the window's trades with one query (see the module docstring)."""
    if conn.dialect.name == "postgresql":
        # JIT-compiling these ~35 aggregates costs more than it saves (measured: +0.4-0.9 s at
        # 1M trades); scoped to this transaction.
        conn.execute(text("SET LOCAL jit = off"))
    rows = conn.execute(count_query(start, end, conn.dialect.name, where)).mappings().all()
    columns = [f.column for check in CHECKS for f in check.fields]
    return WindowCounts([_group(row, columns) for row in rows])


def failing_samples(
    conn: Connection,
    start: datetime,
    end: datetime,
    checks: Sequence[str],
    limit: int,
    where: ColumnElement[bool] | None = None,
) -> dict[str, list[int]]:
    """Up to `limit` ids (lowest first) of trades failing each named check, in one round trip."""
    if not checks or limit <= 0:
        return {}
    dialect = conn.dialect.name
    specs = {c.name: c for c in CHECKS}
    parts = []
    for name in checks:
        failing = case((check_condition(specs[name], dialect), 0), else_=1) == 1
        sample = (
            select(literal(name).label("check"), TRADE.c.id)
            .where(in_window(start, end, where), failing)
            .order_by(TRADE.c.id)
            .limit(limit)
            .subquery()
        )
        parts.append(select(sample.c.check, sample.c.id))
    ids: dict[str, list[int]] = {name: [] for name in checks}
    for check, trade_id in conn.execute(union_all(*parts)):
        ids[check].append(int(trade_id))
    return {name: sorted(found) for name, found in ids.items()}


def coverage(passed: int, total: int) -> float | None:
    return None if total == 0 else round(100.0 * passed / total, 4)


def warn_below(threshold: float, warn_margin: float) -> float:
    return min(threshold + warn_margin, 100.0)


def grade(passed: int, total: int, threshold: float, warn_margin: float) -> CheckStatus:
    """fail below `threshold`, warn below threshold + margin (capped at 100), else pass."""
    if total == 0:
        return CheckStatus.NO_DATA
    if passed * 100.0 < threshold * total:
        return CheckStatus.FAIL
    if passed * 100.0 < warn_below(threshold, warn_margin) * total:
        return CheckStatus.WARN
    return CheckStatus.PASS


def _breakdown(counts: WindowCounts, check: str) -> CheckBreakdown:
    by_key: dict[str, list[GroupCoverage]] = {}
    for key in GROUP_KEYS:
        sums: dict[str | None, list[int]] = defaultdict(lambda: [0, 0])
        for group in counts.groups:
            sums[group.key[key]][0] += group.total
            sums[group.key[key]][1] += group.checks[check]
        ordered = sorted(sums.items(), key=lambda item: (item[0] is None, item[0] or ""))
        by_key[key] = [
            GroupCoverage(value=v, total=t, passed=p, coverage=coverage(p, t))
            for v, (t, p) in ordered
        ]
    return CheckBreakdown(**by_key)


def evaluate(
    counts: WindowCounts,
    samples: Mapping[str, list[int]],
    thresholds: Mapping[str, float],
    warn_margin: float,
) -> list[CheckResult]:
    """Turn the counts into one graded result per check."""
    total = counts.total
    results = []
    for check in CHECKS:
        passed = counts.check_passed(check.name)
        threshold = thresholds[check.name]
        fields = [
            FieldCount(
                name=f.column,
                label=f.label,
                present=(n := counts.field_present(f.column)),
                total=total,
                coverage=coverage(n, total),
            )
            for f in check.fields
        ]
        results.append(
            CheckResult(
                name=check.name,
                label=check.label,
                status=grade(passed, total, threshold, warn_margin),
                threshold=threshold,
                warn_below=warn_below(threshold, warn_margin),
                total=total,
                passed=passed,
                coverage=coverage(passed, total),
                fields=fields,
                breakdown=_breakdown(counts, check.name),
                failing_trade_ids=list(samples.get(check.name, [])),
                backfilled=counts.check_backfilled(check),
            )
        )
    return results


def overall_status(results: Sequence[CheckResult], total: int) -> CheckStatus:
    """no_data without trades (unless positions are stranded), otherwise the worst check."""
    if total == 0:
        # Without trades only the position check can fail; a stranded position is a failure.
        failed = any(r.status == CheckStatus.FAIL for r in results)
        return CheckStatus.FAIL if failed else CheckStatus.NO_DATA
    order = [CheckStatus.FAIL, CheckStatus.WARN, CheckStatus.PASS]
    statuses = {r.status for r in results}
    return next((s for s in order if s in statuses), CheckStatus.PASS)
