"""The five trade completeness checks (services/quality-service/README.md), counted by the
database (the sixth, `open_past_expiry`, counts positions: `expiry_check`).

A settled trade (exit source `settlement`, exit error `expired`) has no exit IV: volatility is
undefined at expiry. Its exit IV counts as present, so `exit_greeks` accepts it; its other exit
Greeks (delta 0 or ±1, gamma, theta, vega 0) must still be there.

`count_window` is the one aggregate query of a run: a single scan of the trades closed in the
window that groups them by (model_version, entry_source, exit_source) and by the set of checked
fields each trade misses (a bit mask, 0 for a complete trade), and counts each group with its
lowest and highest id. A trade's fields are tested once, where it is grouped: every field count,
check pass and breakdown is then a sum over the group rows in Python (one per version, sources
and set of missing fields that occurs: a handful, as trades miss fields in few patterns; a group
misses a field for all its trades or for none), no trade row ever leaves the database, and the
same SQL runs on PostgreSQL and SQLite. Counting per-field and per-check aggregates in SQL
instead costs one aggregate step per trade for each of ~35 counts: at 1M trades that made the
query 1.6x the plain null counts of the same columns.
`failing_samples` is a second, bounded query (at most `limit` ids per failing check, searched
only between the lowest and highest failing id the counts found), sent only when some check has
failures.
"""

from __future__ import annotations

import operator
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import reduce

from sqlalchemy import (
    ColumnElement,
    Connection,
    RowMapping,
    Select,
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
from optrade.domain.completeness import field_present as domain_field_present
from quality_service.schemas import (
    CheckBreakdown,
    CheckResult,
    CheckStatus,
    FieldCount,
    GroupCoverage,
)
from quality_service.scope import IdSpan

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
    """Counts of one (model_version, entry_source, exit_source, missing fields) group."""

    key: dict[str, str | None]
    total: int
    fields: dict[str, int]
    checks: dict[str, int]
    first_id: int
    last_id: int


@dataclass
class WindowCounts:
    groups: list[GroupCounts] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(g.total for g in self.groups)

    @property
    def id_span(self) -> IdSpan:
        """How many trades were counted, and their lowest and highest id."""
        if not self.groups:
            return IdSpan(0, 0, 0)
        low = min(g.first_id for g in self.groups)
        return IdSpan(self.total, low, max(g.last_id for g in self.groups))

    def field_present(self, column: str) -> int:
        return sum(g.fields[column] for g in self.groups)

    def check_passed(self, check: str) -> int:
        return sum(g.checks[check] for g in self.groups)

    def failing_id_span(self, check: str) -> tuple[int, int] | None:
        """The lowest and highest id of the trades failing `check`; None when none fails."""
        failing = [g for g in self.groups if g.checks[check] < g.total]
        if not failing:
            return None
        return min(g.first_id for g in failing), max(g.last_id for g in failing)

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


# Every field some check reads, once, in check order; a field's bit in a trade's missing-fields
# mask is 1 << its index here.
FIELDS = tuple(dict.fromkeys(f.column for check in CHECKS for f in check.fields))
_BIT = {column: 1 << i for i, column in enumerate(FIELDS)}
_CHECK_BITS = {c.name: sum(_BIT[f.column] for f in c.fields) for c in CHECKS}


def missing_fields(dialect: str) -> ColumnElement[int]:
    """SQL: the mask of the FIELDS the trade misses (`field_present` false or NULL), 0 if none."""
    bits = [
        case((_present(column, dialect), 0), else_=literal_column(str(_BIT[column])))
        for column in FIELDS
    ]
    # The complete trade, nearly every trade, costs one AND chain of presence tests; only an
    # incomplete one pays for the mask's per-field CASE and the additions.
    return case((complete_record(TRADE.c, dialect, FIELDS), 0), else_=reduce(operator.add, bits))


def count_query(where: ColumnElement[bool], dialect: str) -> Select:
    """The one aggregate query: the trades, lowest and highest id per group and missing fields."""
    keys = [TRADE.c[k] for k in GROUP_KEYS]
    return (
        select(
            *keys,
            missing_fields(dialect).label("missing"),
            func.count().label("total"),
            func.min(TRADE.c.id).label("first_id"),
            func.max(TRADE.c.id).label("last_id"),
        )
        .where(where)
        # GROUP BY the mask by position: the same expression written twice is two statements'
        # worth of bound parameters on some dialects.
        .group_by(*keys, literal_column(str(len(keys) + 1)))
    )


def _group(row: RowMapping) -> GroupCounts:
    """One row of the count query as the counts of its group."""
    total, missing = int(row["total"]), int(row["missing"])
    return GroupCounts(
        key={k: row[k] for k in GROUP_KEYS},
        total=total,
        fields={c: 0 if missing & _BIT[c] else total for c in FIELDS},
        checks={c.name: 0 if missing & _CHECK_BITS[c.name] else total for c in CHECKS},
        first_id=int(row["first_id"]),
        last_id=int(row["last_id"]),
    )


def count_window(conn: Connection, where: ColumnElement[bool]) -> WindowCounts:
    """Count the trades `where` selects (`scope.run_condition`) with one query (see the module
    docstring)."""
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        # JIT-compiling this query costs more than it saves (measured at 1M trades: +0.2 s of
        # emission, slower execution); scoped to this transaction. The planner cannot know that
        # the mask takes a handful of values (it guesses a tenth of the rows), so it would sort
        # every row to group them, spilling to disk at 1M trades: hashing them is 2.5x faster.
        conn.execute(text("SET LOCAL jit = off"))
        conn.execute(text("SET LOCAL enable_sort = off"))
    rows = conn.execute(count_query(where, conn.dialect.name)).mappings().all()
    if postgres:
        conn.execute(text("RESET enable_sort"))
    return WindowCounts([_group(row) for row in rows])


def failing_samples(
    conn: Connection,
    where: ColumnElement[bool],
    failing: Mapping[str, tuple[int, int]],
    limit: int,
) -> dict[str, list[int]]:
    """Up to `limit` ids (lowest first) of trades failing each check of `failing`, in one round
    trip; each check's ids are searched only in its (lowest, highest) failing id span."""
    if not failing or limit <= 0:
        return {}
    dialect = conn.dialect.name
    specs = {c.name: c for c in CHECKS}
    parts = []
    for name, (low, high) in failing.items():
        fails = case((check_condition(specs[name], dialect), 0), else_=1) == 1
        sample = (
            select(literal(name).label("check"), TRADE.c.id)
            .where(where, TRADE.c.id.between(low, high), fails)
            .order_by(TRADE.c.id)
            .limit(limit)
            .subquery()
        )
        parts.append(select(sample.c.check, sample.c.id))
    ids: dict[str, list[int]] = {name: [] for name in failing}
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
