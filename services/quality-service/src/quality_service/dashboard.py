"""A server-rendered HTML page with the coverage trend of each check (inline SVG, no JS)."""

from __future__ import annotations

from html import escape

from optrade.calendar import IST
from quality_service.checks import CHECKS
from quality_service.schemas import QualityRunPublic, QualityStatus

WIDTH, HEIGHT, PAD = 720, 160, 28
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


def _trend(check: str, label: str, runs: list[QualityRunPublic]) -> str:
    """Bars of one check's coverage per run, oldest left, with the threshold as a dashed line."""
    plot_w, plot_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD
    step = plot_w / max(len(runs), 1)
    bars: list[str] = []
    threshold = None
    for i, run in enumerate(runs):
        result = next((c for c in run.checks if c.name == check), None)
        if result is None:
            continue
        threshold = result.threshold
        value = result.coverage or 0.0
        height = plot_h * value / 100
        when = run.started_at.astimezone(IST).strftime("%Y-%m-%d %H:%M IST")
        tip = f"run #{run.id} {when}: " + (
            f"{value:.1f}%" if result.coverage is not None else "no data"
        )
        bars.append(
            f'<rect class="bar {result.status}" data-run-id="{run.id}" '
            f'data-coverage="{value:.4f}" x="{PAD + i * step + 1:.1f}" '
            f'y="{PAD + plot_h - height:.1f}" width="{max(step - 2, 1):.1f}" '
            f'height="{height:.1f}" fill="{COLOURS.get(result.status, "#9e9e9e")}">'
            f"<title>{escape(tip)}</title></rect>"
        )
    line = ""
    if threshold is not None:
        y = PAD + plot_h * (1 - threshold / 100)
        line = (
            f'<line class="threshold" x1="{PAD}" x2="{WIDTH - PAD}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#333" stroke-dasharray="4 3"/><text x="{WIDTH - PAD}" y="{y - 3:.1f}" '
            f'font-size="10" text-anchor="end">threshold {threshold:g}%</text>'
        )
    axis = (
        f'<text x="2" y="{PAD + 4}" font-size="10">100%</text>'
        f'<text x="8" y="{PAD + plot_h}" font-size="10">0%</text>'
    )
    return (
        f'<svg class="trend" data-check="{check}" data-runs="{len(bars)}" role="img" '
        f'aria-label="{escape(label)} coverage per run" width="{WIDTH}" '
        f'height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}">{axis}{"".join(bars)}{line}</svg>'
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


def render_dashboard(status: QualityStatus, runs: list[QualityRunPublic]) -> str:
    """The page: overall status, schedule, a trend per check over `runs` (oldest first)."""
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
        f"· {len(runs)} runs shown</p>{overdue}{warning_html}{trends}"
        f"<h2>Recent runs</h2>{_runs_table(status)}</body></html>"
    )
