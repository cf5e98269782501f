"""A server-rendered HTML page with the trend of each check (inline SVG, no JS).

The checks come from the stored runs themselves, not from a list here: every check a run
recorded gets a chart, so a check added later (or one over positions, `open_past_expiry`)
appears without touching this page, and a failing run never looks all green. A check over
trades is drawn as its coverage in percent against its threshold; a check over positions
(`kind` `positions`) as the count it found against the count allowed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from html import escape
from math import ceil

from optrade.domain import IST
from quality_service.schemas import CheckResult, QualityRunPublic, QualityStatus

WIDTH, HEIGHT = 760, 230
MAX_STEP = 36  # a run's slot at most this wide: a few runs stay readable bars, not slabs
LEFT, RIGHT, TOP, BOTTOM = 40, 100, 16, 76  # margins around the plot: axis, threshold, dates
LABEL_SPACING = 16  # px between two slanted x-axis labels (font 10)
CHAR_WIDTH = 5.6  # px of a digit at font size 9, to tell whether a bar's label fits its slot
COLOURS = {"pass": "#2e7d32", "warn": "#f9a825", "fail": "#c62828", "no_data": "#9e9e9e"}
STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:60rem}
h1{font-size:1.4rem} h2{font-size:1.1rem;margin:1.6rem 0 .4rem}
.badge{display:inline-block;padding:.1rem .5rem;border-radius:.3rem;color:#fff;font-size:.85rem}
.pass{background:#2e7d32}.warn{background:#f9a825}.fail{background:#c62828}
.no_data,.never_run,.skipped{background:#9e9e9e}
table{border-collapse:collapse;margin-top:.6rem}
td,th{padding:.2rem .6rem;border-bottom:1px solid #ddd;text-align:left}
svg{background:#fafafa;border:1px solid #ddd;overflow:visible}
"""


@dataclass(frozen=True)
class CheckSeries:
    """One check as the runs recorded it: its name, label, kind, and its result per run."""

    name: str
    label: str
    kind: str
    results: list[CheckResult | None]  # one per run, oldest first; None: not in that run

    @property
    def latest(self) -> CheckResult | None:
        return next((r for r in reversed(self.results) if r is not None), None)


def check_series(runs: Sequence[QualityRunPublic]) -> list[CheckSeries]:
    """Every check any of `runs` recorded, in the newest run's order, then older ones'."""
    order: dict[str, CheckResult] = {}
    for run in reversed(runs):
        for check in run.checks:
            order.setdefault(check.name, check)
    return [
        CheckSeries(
            name,
            first.label,
            first.kind,
            [next((c for c in run.checks if c.name == name), None) for run in runs],
        )
        for name, first in order.items()
    ]


def _axis_label(run: QualityRunPublic) -> str:
    return f"#{run.id} {run.started_at.astimezone(IST):%d %b %H:%M}"


def _x_axis(runs: Sequence[QualityRunPublic], step: float) -> str:
    """A label under every run (every k-th when the bars are narrow), slanted so neighbours do
    not overlap; each names its run, so no two labels read the same."""
    every = max(1, ceil(LABEL_SPACING / step))
    labels = []
    for index in range(0, len(runs), every):
        x = LEFT + index * step + step / 2
        y = HEIGHT - BOTTOM + 10
        labels.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{HEIGHT - BOTTOM}" y2="{HEIGHT - BOTTOM + 4}" '
            f'stroke="#666"/><text class="x-label" x="{x:.1f}" y="{y:.1f}" font-size="10" '
            f'transform="rotate(35 {x:.1f} {y:.1f})">{escape(_axis_label(runs[index]))}</text>'
        )
    return "".join(labels)


def _bar(
    run: QualityRunPublic,
    result: CheckResult,
    x: float,
    width: float,
    fraction: float,
    shown: str,
    plot_h: float,
) -> str:
    # A passing count of zero is still a visible sliver in its status colour.
    height = max(plot_h * min(fraction, 1.0), 2.0)
    when = run.started_at.astimezone(IST).strftime("%Y-%m-%d %H:%M IST")
    top = TOP + plot_h - height
    label = str(result.total) if result.kind == "positions" else str(run.total_trades)
    # The label above the bar, only where the slot is wide enough to hold it whole.
    text = (
        f'<text class="bar-label" x="{x + width / 2:.1f}" y="{max(top - 3, 10):.1f}" '
        f'font-size="9" text-anchor="middle">{label}</text>'
        if len(label) * CHAR_WIDTH <= width + 2
        else ""
    )
    coverage = "" if result.coverage is None else f' data-coverage="{result.coverage:.4f}"'
    return (
        f'<rect class="bar {result.status}" data-run-id="{run.id}"{coverage} '
        f'data-trades="{run.total_trades}" data-count="{result.total}" x="{x:.1f}" '
        f'y="{top:.1f}" width="{width:.1f}" height="{height:.1f}" '
        f'fill="{COLOURS.get(result.status, "#9e9e9e")}">'
        f"<title>{escape(f'run #{run.id} {when}: {result.status}, {shown}')}</title></rect>{text}"
    )


def _threshold_line(fraction: float, text: str, plot_h: float) -> str:
    y = TOP + plot_h * (1 - min(fraction, 1.0))
    return (
        f'<line class="threshold" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
        f'stroke="#333" stroke-dasharray="4 3"/><text x="{WIDTH - RIGHT + 4}" y="{y + 3:.1f}" '
        f'font-size="10">{escape(text)}</text>'
    )


def _trend(series: CheckSeries, runs: Sequence[QualityRunPublic]) -> str:
    """Bars of one check per run, oldest left, with its threshold as a dashed line."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = min(plot_w / max(len(runs), 1), MAX_STEP)
    latest = series.latest
    threshold = latest.threshold if latest else 0.0
    if series.kind == "positions":  # a count against the count allowed
        top_value = max([threshold + 1, *(r.total for r in series.results if r)])
        axis = (f"{top_value:g}", "0")
        limit = _threshold_line(threshold / top_value, f"allowed {threshold:g}", plot_h)
    else:
        top_value = 100.0
        axis = ("100%", "0%")
        limit = _threshold_line(threshold / 100, f"threshold {threshold:g}%", plot_h)
    bars = []
    for i, (run, result) in enumerate(zip(runs, series.results, strict=True)):
        if result is None:
            continue
        if series.kind == "positions":
            fraction, shown = result.total / top_value, f"{result.total} positions"
        else:
            value = result.coverage or 0.0
            fraction = value / 100
            shown = (
                f"{value:.1f}% of {run.total_trades} trades"
                if result.coverage is not None
                else "no trades"
            )
        bars.append(
            _bar(run, result, LEFT + i * step + 1, max(step - 2, 1), fraction, shown, plot_h)
        )
    parts = [
        *(
            f'<text x="{LEFT - 4}" y="{y}" font-size="10" text-anchor="end">{text}</text>'
            for y, text in ((TOP + 4, axis[0]), (TOP + plot_h, axis[1]))
        ),
        *bars,
        limit if latest else "",
        _x_axis(runs, step),
    ]
    return (
        f'<svg class="trend" data-check="{escape(series.name)}" data-kind="{series.kind}" '
        f'data-runs="{len(bars)}" role="img" aria-label="{escape(series.label)} per run" '
        f'width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}">{"".join(parts)}</svg>'
    )


def _section(series: CheckSeries, runs: Sequence[QualityRunPublic]) -> str:
    latest = series.latest
    badge = f' <span class="badge {latest.status}">{latest.status}</span>' if latest else ""
    return (
        f'<section data-check="{escape(series.name)}"><h2>{escape(series.label)}{badge}</h2>'
        f"{_trend(series, runs)}</section>"
    )


def trading_dates(run: QualityRunPublic) -> str:
    """The trading date a run checked, or the IST dates its window spans."""
    if run.trading_date is not None:
        return run.trading_date.isoformat()
    first = run.window_start.astimezone(IST).date()
    last = (run.window_end - timedelta(microseconds=1)).astimezone(IST).date()
    return first.isoformat() if first == last else f"{first.isoformat()} – {last.isoformat()}"


def _runs_table(status: QualityStatus, runs: Sequence[QualityRunPublic]) -> str:
    stored = {run.id: run for run in runs}
    rows = "".join(
        f'<tr data-run-id="{r.id}"><td>#{r.id}</td><td>{r.trigger}</td>'
        f'<td><span class="badge {r.status}">{r.status}</span></td>'
        f'<td class="trading-date">'
        f"{trading_dates(stored[r.id]) if r.id in stored else r.trading_date or '—'}</td>"
        f"<td>{r.started_at.astimezone(IST):%Y-%m-%d %H:%M}</td><td>{r.total_trades}</td></tr>"
        for r in status.recent_runs
    )
    return (
        "<table><thead><tr><th>run</th><th>trigger</th><th>status</th><th>trading date</th>"
        f"<th>started (IST)</th><th>trades</th></tr></thead><tbody>{rows}</tbody></table>"
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
    trends = "".join(_section(series, runs) for series in check_series(runs))
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<title>Optrade data quality</title>"
        f"<style>{STYLE}</style></head><body><h1>Optrade data quality</h1>"
        f'<p>Status: <span id="overall" class="badge {status.status}">{status.status}</span> '
        f"· next scheduled run {status.next_scheduled_run:%Y-%m-%d %H:%M} IST "
        f"· {len(runs)} runs shown{models}</p>{overdue}{warning_html}{_latest_notes(status)}"
        f"{trends}"
        f"<h2>Recent runs</h2>{_runs_table(status, runs)}</body></html>"
    )
