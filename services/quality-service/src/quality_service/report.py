"""The plain-text report of a run, as printed by `?format=text` (the checks it reports:
services/quality-service/README.md)."""

from __future__ import annotations

import math

from optrade.domain import IST
from quality_service.schemas import CheckResult, CheckStatus, GroupCoverage, QualityRunPublic

ICONS = {CheckStatus.PASS: "✅", CheckStatus.WARN: "⚠️", CheckStatus.FAIL: "❌"}


def percent(value: float) -> str:
    """One decimal, rounded down, so 94.96% never prints as a passing-looking 95.0%."""
    return f"{math.floor(value * 10 + 1e-9) / 10:.1f}%"


def _field_icon(present: int, total: int, check: CheckResult) -> str:
    if present * 100.0 < check.threshold * total:
        return ICONS[CheckStatus.FAIL]
    if present * 100.0 < check.warn_below * total:
        return ICONS[CheckStatus.WARN]
    return ICONS[CheckStatus.PASS]


def _groups(groups: list[GroupCoverage]) -> str:
    return ", ".join(f"{g.value or '(none)'} {g.passed}/{g.total}" for g in groups)


def _position_lines(number: int, check: CheckResult) -> list[str]:
    """open_past_expiry: a count of positions, not a coverage."""
    head = f"{number}. {check.label}: {check.total} positions open after their expiry's settlement"
    if check.status == CheckStatus.FAIL:
        head += f"  ❌ FAIL (threshold {check.threshold:g})"
        ids = ", ".join(str(i) for i in check.failing_trade_ids)
        return [head, f"   Stranded positions (first {len(check.failing_trade_ids)}): {ids}"]
    return [head + "  ✅"]


def _drift_lines(number: int, check: CheckResult) -> list[str]:
    """feature_drift: the features compared, and those that moved (PSI, KS) by name."""
    if check.status == CheckStatus.NO_DATA:
        return [f"{number}. {check.label}: n/a (no reference or too few values)"]
    head = f"{number}. {check.label}: {check.passed}/{check.total} features stable"
    if check.status == CheckStatus.FAIL:
        head += f"  ❌ FAIL (PSI above {check.threshold:g})"
    elif check.status == CheckStatus.WARN:
        head += f"  ⚠️ WARN (PSI above {check.warn_below:g})"
    lines = [head]
    for d in check.drift:
        if d.feature in check.drifted_features and d.psi is not None:
            lines.append(
                f"   Drifted: {d.feature} ({d.model_version or '(none)'}) PSI {d.psi:.3f}, "
                f"KS {d.ks:.3f}, {d.session_n} vs {d.reference_n} reference values"
            )
    return lines


def _check_lines(number: int, check: CheckResult, before: float | None = None) -> list[str]:
    if check.kind == "positions":
        return _position_lines(number, check)
    if check.kind == "features":
        return _drift_lines(number, check)
    if check.coverage is None:
        return [f"{number}. {check.label} Coverage: n/a (no trades)"]
    head = f"{number}. {check.label} Coverage: {percent(check.coverage)}"
    if check.status == CheckStatus.FAIL:
        head += f"  ❌ FAIL (threshold {check.threshold:g}%)"
    elif check.status == CheckStatus.WARN:
        head += f"  ⚠️ WARN (below {check.warn_below:g}%)"
    lines = [head]
    if before is not None:
        lines.append(f"   Before backfill: {percent(before)}")
    if check.backfilled:
        lines.append(f"   Complete thanks to backfill: {check.backfilled} of {check.passed}")
    for field in check.fields:
        icon = _field_icon(field.present, field.total, check)
        lines.append(f"   {field.label}: {field.present}/{field.total}  {icon}")
    if check.status in (CheckStatus.FAIL, CheckStatus.WARN):
        breakdown = check.breakdown
        lines.append(f"   By model version: {_groups(breakdown.model_version)}")
        lines.append(f"   By entry source: {_groups(breakdown.entry_source)}")
        lines.append(f"   By exit source: {_groups(breakdown.exit_source)}")
        if check.failing_trade_ids:
            ids = ", ".join(str(i) for i in check.failing_trade_ids)
            lines.append(f"   Incomplete trades (first {len(check.failing_trade_ids)}): {ids}")
    return lines


def _summary(run: QualityRunPublic) -> str:
    failed = [c.label for c in run.checks if c.status == CheckStatus.FAIL]
    warned = [c.label for c in run.checks if c.status == CheckStatus.WARN]
    if run.status == "skipped":
        return f"Skipped: {run.note or 'not a trading day'}"
    if run.total_trades == 0 and not failed:
        return "No trades closed in this window: nothing to check (no_data) ⚠️"
    if failed:
        return f"Data quality checks FAILED ({len(failed)} of {len(run.checks)}): " + (
            ", ".join(failed) + " ❌"
        )
    if warned:
        return f"All data quality checks PASSED, near threshold: {', '.join(warned)} ⚠️"
    return "All data quality checks PASSED! ✅"


def render_text(run: QualityRunPublic) -> str:
    lines = [
        "=== DATA QUALITY CHECK ===",
        f"Checking {run.total_trades} trades from {run.window_label or 'the window'}",
    ]
    before = run.coverage_before or {}
    for number, check in enumerate(run.checks, start=1):
        lines.extend(_check_lines(number, check, before.get(check.name)))
    start = run.window_start.astimezone(IST).strftime("%Y-%m-%d %H:%M")
    end = run.window_end.astimezone(IST).strftime("%Y-%m-%d %H:%M")
    lines.append(f"Run #{run.id} ({run.trigger}), trades closed {start} to {end} IST")
    if run.note and run.status != "skipped":  # a skipped run's summary line is its note
        lines.append(f"Note: {run.note}")
    lines.append(_summary(run))
    return "\n".join(lines) + "\n"
