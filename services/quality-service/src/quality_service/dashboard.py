"""A server-rendered HTML page with the coverage trend of each check (inline SVG, no JS)."""

from __future__ import annotations

from html import escape

from optrade.domain import IST
from quality_service.checks import CHECKS
from quality_service.schemas import QualityRunPublic, QualityStatus

WIDTH, HEIGHT = 760, 170
MAX_STEP = 36  # a run's slot at most this wide: a few runs stay readable bars, not slabs
LEFT, RIGHT, TOP, BOTTOM = 40, 90, 12, 24  # margins around the plot: axis, threshold, dates
COLOURS = {"pass": "#2e7d32", "warn": "#f9a825", "fail": "#c62828", "no_data": "#9e9e9e"}
STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:60rem}
h1{font-size:1.4rem} h2{font-size:1.1rem;margin:1.6rem 0 .4rem}
.badge{display:inline-block;padding:.1rem .5rem;border-radius:.3rem;color:#fff}
.pass{background:#2e7d32}.warn{background:#f9a825}.fail{background:#c62828}
.no_data,.never_run,.skipped{background:#9e9e9e}
table{border-collapse:collapse;margin-top:.6rem}
td,th{padding:.2rem .6rem;border-bottom:1px solid #ddd}
svg{background:#fafafa;border:1px solid #ddd}
"""


def _bar(run: QualityRunPublic, check: str, x: float, width: float, plot_h: float) -> str:
    result = next((c for c in run.checks if c.name == check), None)
    if result is None:
        return ""
    value = result.coverage or 0.0
    height = plot_h * value / 100
    when = run.started_at.astimezone(IST).strftime("%Y-%m-%d %H:%M IST")
    shown = f"{value:.1f}%" if result.coverage is not None else "no data"
    top = TOP + plot_h - height
    # The run's trade count above its bar, where a slot is wide enough to hold the number.
    count = (
        f'<text class="trades" x="{x + width / 2:.1f}" y="{max(top - 2, TOP + 8):.1f}" '
        f'font-size="9" text-anchor="middle">{run.total_trades}</text>'
        if width >= 14
        else ""
    )
    return (
        f'<rect class="bar {result.status}" data-run-id="{run.id}" data-coverage="{value:.4f}" '
        f'data-trades="{run.total_trades}" x="{x:.1f}" y="{top:.1f}" width="{width:.1f}" '
        f'height="{height:.1f}" fill="{COLOURS.get(result.status, "#9e9e9e")}">'
        f"<title>{escape(f'run #{run.id} {when}: {shown} of {run.total_trades} trades')}</title>"
        f"</rect>{count}"
    )


def _threshold_line(threshold: float, plot_h: float) -> str:
    y = TOP + plot_h * (1 - threshold / 100)
    return (
        f'<line class="threshold" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
        f'stroke="#333" stroke-dasharray="4 3"/><text x="{WIDTH - RIGHT + 4}" y="{y + 3:.1f}" '
        f'font-size="10">threshold {threshold:g}%</text>'
    )


def _trend(check: str, label: str, runs: list[QualityRunPublic]) -> str:
    """Bars of one check's coverage per run, oldest left, with the threshold as a dashed line."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = min(plot_w / max(len(runs), 1), MAX_STEP)
    bars = [
        bar
        for i, run in enumerate(runs)
        if (bar := _bar(run, check, LEFT + i * step + 1, max(step - 2, 1), plot_h))
    ]
    thresholds = [c.threshold for run in runs for c in run.checks if c.name == check]
    parts = [
        f'<text x="{LEFT - 4}" y="{TOP + 4}" font-size="10" text-anchor="end">100%</text>',
        f'<text x="{LEFT - 4}" y="{TOP + plot_h}" font-size="10" text-anchor="end">0%</text>',
        *bars,
        _threshold_line(thresholds[-1], plot_h) if thresholds else "",
    ]
    if runs:
        y = HEIGHT - 8
        first, last = (
            r.started_at.astimezone(IST).strftime("%d %b %H:%M") for r in (runs[0], runs[-1])
        )
        parts.append(f'<text x="{LEFT}" y="{y}" font-size="10">{first}</text>')
        parts.append(
            f'<text x="{WIDTH - RIGHT}" y="{y}" font-size="10" text-anchor="end">{last}</text>'
        )
    return (
        f'<svg class="trend" data-check="{check}" data-runs="{len(bars)}" role="img" '
        f'aria-label="{escape(label)} coverage per run" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}">{"".join(parts)}</svg>'
    )


def _runs_table(status: QualityStatus) -> str:
    rows = "".join(
        f'<tr data-run-id="{r.id}"><td>#{r.id}</td><td>{r.trigger}</td>'
        f'<td><span class="badge {r.status}">{r.status}</span></td>'
        f"<td>{r.started_at.astimezone(IST):%Y-%m-%d %H:%M}</td><td>{r.total_trades}</td></tr>"
        for r in status.recent_runs
    )
    return (
        "<table><thead><tr><th>run</th><th>trigger</th><th>status</th><th>started (IST)</th>"
        f"<th>trades</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _latest_notes(status: QualityStatus) -> str:
    """The latest run's drifted features and its end-of-day training, one line each."""
    run = status.latest_run
    if run is None:
        return ""
    drift = next((c for c in run.checks if c.name == "feature_drift"), None)
    notes = []
    if drift is not None and drift.drifted_features:
        names = ", ".join(escape(name) for name in drift.drifted_features)
        notes.append(f'<p id="drift" class="{drift.status}">Feature drift: {names}</p>')
    if run.training is not None:
        code = run.training.exit_code
        notes.append(
            f'<p id="training">Training after run #{run.id}: {escape(run.training.status)}'
            f"{'' if code is None else f' (exit {code})'}</p>"
        )
    return "".join(notes)


def render_dashboard(
    status: QualityStatus, runs: list[QualityRunPublic], models_url: str | None = None
) -> str:
    """The page: overall status, schedule, a trend per check over `runs` (oldest first), and a
    link to the order service's per-model page when its URL is known."""
    models = f' · <a id="models" href="{escape(models_url)}">models</a>' if models_url else ""
    overdue = (
        f'<p class="overdue">Scheduled run for {status.overdue_trading_date} is overdue</p>'
        if status.overdue
        else ""
    )
    warning = status.calendar_warning
    warning_html = f'<p class="calendar">{escape(warning)}</p>' if warning else ""
    trends = "".join(
        f'<section data-check="{c.name}"><h2>{escape(c.label)}</h2>{_trend(c.name, c.label, runs)}'
        "</section>"
        for c in CHECKS
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<title>Optrade data quality</title>"
        f"<style>{STYLE}</style></head><body><h1>Optrade data quality</h1>"
        f'<p>Status: <span id="overall" class="badge {status.status}">{status.status}</span> '
        f"· next scheduled run {status.next_scheduled_run:%Y-%m-%d %H:%M} IST "
        f"· {len(runs)} runs shown{models}</p>{overdue}{warning_html}{_latest_notes(status)}"
        f"{trends}"
        f"<h2>Recent runs</h2>{_runs_table(status)}</body></html>"
    )
