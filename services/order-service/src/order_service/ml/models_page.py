"""`GET /models`: a page for people, per model version and hash (inline SVG, no JavaScript).

Per model: the cumulative net P&L over close time (net of charges; a trade stored before charges
were recorded counts gross, and the page says so), trades and positions (open ones too: a model
that has only opened positions is listed), win rate, gross P&L, charges and net P&L, the score
figures of `evaluation` (AUC, Brier score, with their intervals), data completeness
(`complete_record`) and the split of exits by the source of the exit snapshot. Each model's
calibration curve (10 score bins: mean score against observed win rate, with a Wilson 95%
interval per bin) is drawn beside the diagonal, and `?baseline=&candidate=&metric=` adds the A/B
comparison of two versions (`comparison.compare_versions`). Aggregates come from the database
(GROUP BY); the curve reads one (model, closed_at, P&L) row per trade, thinned to at most
`MAX_POINTS` points per model.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from html import escape
from typing import Any

from sqlalchemy import Engine, case, func, select

from optrade.db.models import Position, Trade
from optrade.domain import IST, PositionStatus, TradeWindow
from order_service.ml.performance import UNVERSIONED, Doubtful, model_performance
from order_service.ml.reading import reader_engine, trade_conditions
from order_service.ml.schemas import ModelComparison, ModelPerformance

TRADE = Trade.__table__  # type: ignore[attr-defined]
POSITION = Position.__table__  # type: ignore[attr-defined]
MAX_POINTS = 400
WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 760, 280, 80, 16, 14, 40
TIME_TICKS = 5
CAL_SIZE, CAL_PAD = 220, 30
MINUS = "\u2212"
# Okabe–Ito and Tableau hues, then golden-angle hues: no two models share a colour.
PALETTE = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#7f7f7f",
           "#8c564b", "#bcbd22", "#17becf", "#9467bd", "#000000")  # fmt: skip
STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:64rem}
h1{font-size:1.4rem} h2{font-size:1.1rem;margin:1.6rem 0 .4rem}
table{border-collapse:collapse;margin-top:.6rem}
td,th{padding:.2rem .6rem;border-bottom:1px solid #ddd;text-align:right}
td:first-child,th:first-child{text-align:left}
svg{background:#fafafa;border:1px solid #ddd}
.swatch{display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem;vertical-align:middle}
ul.legend{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:.3rem 1.2rem;max-width:760px}
.calibration{display:flex;flex-wrap:wrap;gap:1rem}
.calibration figure{margin:0} figcaption{font-size:.85rem;max-width:220px}
.note{color:#555;font-size:.9rem} form label{margin-right:.8rem}
"""

Key = tuple[str | None, str | None]


def colour(index: int) -> str:
    if index < len(PALETTE):
        return PALETTE[index]
    hue = (index * 0.618033988749895) % 1.0
    r, g, b = colorsys.hls_to_rgb(hue, 0.42, 0.65)
    return f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"


def rupees(value: Decimal | float | None) -> str:
    """−₹383.50, ₹1,875.00; a dash when unknown."""
    if value is None:
        return "–"
    amount = Decimal(str(value)).quantize(Decimal("0.01"))
    sign = MINUS if amount < 0 else ""
    return f"{sign}₹{abs(amount):,.2f}"


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


@dataclass
class ModelRow:
    """Everything the page shows about one (model_version, model_hash)."""

    performance: ModelPerformance
    positions: int = 0
    open_positions: int = 0
    exits: dict[str, int] = field(default_factory=dict)
    curve: list[tuple[datetime, float]] = field(default_factory=list)
    gross_trades: int = 0  # trades counted gross in the curve (no charges recorded)

    @property
    def key(self) -> Key:
        return (self.performance.model_version, self.performance.model_hash)

    @property
    def label(self) -> str:
        version = self.performance.model_version or UNVERSIONED
        return f"{version} · {(self.performance.model_hash or '-')[:10]}"


def _pnl_column() -> Any:
    """Net P&L where the trade carries it; gross for trades stored before charges existed."""
    return func.coalesce(TRADE.c.net_pnl, TRADE.c.pnl)


def _curves(connection: Any, window: TradeWindow) -> dict[Key, list[tuple[datetime, float]]]:
    rows = connection.execute(
        select(TRADE.c.model_version, TRADE.c.model_hash, TRADE.c.closed_at, _pnl_column())
        .where(*trade_conditions(window))
        .order_by(TRADE.c.closed_at, TRADE.c.id)
    )
    curves: dict[Key, list[tuple[datetime, float]]] = {}
    totals: dict[Key, Decimal] = {}
    for version, model_hash, closed_at, pnl in rows:
        key = (version, model_hash)
        totals[key] = totals.get(key, Decimal(0)) + Decimal(str(pnl or 0))
        curves.setdefault(key, []).append((closed_at, float(totals[key])))
    return {key: _thin(points) for key, points in curves.items()}


def _thin(points: list[tuple[datetime, float]]) -> list[tuple[datetime, float]]:
    """At most MAX_POINTS points, always keeping the last (the model's total)."""
    if len(points) <= MAX_POINTS:
        return points
    step = len(points) / MAX_POINTS
    return [points[int(i * step)] for i in range(MAX_POINTS - 1)] + [points[-1]]


def _exits(connection: Any, window: TradeWindow) -> dict[Key, tuple[dict[str, int], int]]:
    """Per model: its trades by exit source, and how many have no net P&L (counted gross)."""
    keys = (TRADE.c.model_version, TRADE.c.model_hash, TRADE.c.exit_source)
    gross = func.count(case((TRADE.c.net_pnl.is_(None), 1)))
    query = select(*keys, func.count(), gross).where(*trade_conditions(window)).group_by(*keys)
    found: dict[Key, tuple[dict[str, int], int]] = {}
    for version, model_hash, source, count, uncharged in connection.execute(query):
        sources, before = found.get((version, model_hash), ({}, 0))
        sources[source or "unknown"] = int(count)
        found[version, model_hash] = (sources, before + int(uncharged or 0))
    return found


def _positions(connection: Any, window: TradeWindow) -> dict[Key, tuple[int, int]]:
    """Per model: positions (of the window's mode and underlying) and how many are open."""
    keys = (POSITION.c.model_version, POSITION.c.model_hash)
    is_open = func.count(case((POSITION.c.status == PositionStatus.OPEN.value, 1)))
    scope = TradeWindow(mode=window.mode, underlying=window.underlying)
    query = (
        select(*keys, func.count(), is_open).where(*scope.conditions(POSITION.c)).group_by(*keys)
    )
    return {(v, h): (int(n), int(o or 0)) for v, h, n, o in connection.execute(query)}


def _opened_only(key: Key) -> ModelPerformance:
    """A model with positions but no closed trade in the window: listed with zero figures."""
    version, model_hash = key
    return ModelPerformance(
        model_version=version, model_hash=model_hash, label=version or UNVERSIONED,
        trades=0, positions=0, wins=0, win_rate=None, total_pnl=Decimal("0.00"),
        charges=None, net_pnl=None, mean_pnl=None, weighted_return=None,
        net_weighted_return=None, mean_holding_seconds=None, complete_trades=0, completeness=None,
        client_exit_trades=0, missing_exit_trades=0,
    )  # fmt: skip


def model_rows(engine: Engine, window: TradeWindow) -> list[ModelRow]:
    """One row per model that closed a trade in `window` or holds an open position."""
    # Every exit counts here: the page splits them by source beside the figures.
    rows = [ModelRow(p) for p in model_performance(engine, window, set(Doubtful))]
    with reader_engine(engine).connect() as connection:
        curves, exits = _curves(connection, window), _exits(connection, window)
        positions = _positions(connection, window)
    listed = {row.key for row in rows}
    rows += [
        ModelRow(_opened_only(key))
        for key, (_, open_count) in sorted(positions.items(), key=lambda kv: str(kv[0]))
        if key not in listed and open_count
    ]
    for row in rows:
        row.curve = curves.get(row.key, [])
        row.exits, row.gross_trades = exits.get(row.key, ({}, 0))
        row.positions, row.open_positions = positions.get(row.key, (0, 0))
    return rows


# --- rendering ----------------------------------------------------------------------------------


def _percent(share: float | None) -> str:
    """A share as a percentage; a dash when there was nothing to count (every exit doubtful)."""
    return "–" if share is None else f"{share:.0%}"


def _figure(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}".replace("-", MINUS)


def _scale(rows: list[ModelRow]) -> tuple[float, float, float, float]:
    times = [t.timestamp() for row in rows for t, _ in row.curve]
    values = [v for row in rows for _, v in row.curve] + [0.0]
    t0, t1 = min(times, default=0.0), max(times, default=1.0)
    low, high = min(values), max(values)
    return t0, (t1 - t0) or 1.0, low, (high - low) or 1.0


def _text(x: float, y: float, body: str, anchor: str = "end", cls: str = "") -> str:
    css = f' class="{cls}"' if cls else ""
    return (
        f'<text{css} x="{x:.1f}" y="{y:.1f}" font-size="10" text-anchor="{anchor}">'
        f"{escape(body)}</text>"
    )


def _time_format(span_seconds: float) -> str:
    if span_seconds <= 86_400:
        return "%H:%M"
    return "%d %b %H:%M" if span_seconds < 10 * 86_400 else "%d %b %Y"


def _time_axis(t0: float, span: float, plot_w: float, plot_h: float) -> list[str]:
    """TIME_TICKS labelled ticks along the bottom, in IST."""
    fmt = _time_format(span)
    parts = []
    for i in range(TIME_TICKS):
        at = t0 + span * i / (TIME_TICKS - 1)
        x = LEFT + plot_w * i / (TIME_TICKS - 1)
        label = datetime.fromtimestamp(at, IST).strftime(fmt)
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP + plot_h}" y2="{TOP + plot_h + 4}" '
            'stroke="#999"/>'
        )
        anchor = "start" if i == 0 else "end" if i == TIME_TICKS - 1 else "middle"
        parts.append(_text(x, TOP + plot_h + 16, label, anchor, "time-tick"))
    parts.append(_text(LEFT + plot_w / 2, HEIGHT - 4, "close time (IST)", "middle"))
    return parts


def _curve_svg(rows: list[ModelRow]) -> str:
    """One polyline per model: cumulative net P&L (rupees) against close time."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    t0, span, low, height = _scale(rows)

    def xy(when: datetime, value: float) -> str:
        x = LEFT + plot_w * (when.timestamp() - t0) / span
        y = TOP + plot_h * (1 - (value - low) / height)
        return f"{x:.1f},{y:.1f}"

    zero_y = TOP + plot_h * (1 - (0 - low) / height)
    parts = [
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{zero_y:.1f}" y2="{zero_y:.1f}" '
        'stroke="#999" stroke-dasharray="3 3"/>',
        _text(LEFT - 4, TOP + 8, rupees(low + height)),
        _text(LEFT - 4, TOP + plot_h, rupees(low)),
        f'<text x="12" y="{TOP + plot_h / 2:.1f}" font-size="10" text-anchor="middle" '
        f'transform="rotate(-90 12 {TOP + plot_h / 2:.1f})">net P&amp;L, ₹</text>',
        *_time_axis(t0, span, plot_w, plot_h),
    ]
    for i, row in enumerate(rows):
        if not row.curve:
            continue
        points = [xy(t, v) for t, v in row.curve]
        if len(points) == 1:  # one trade: a visible step from zero
            points.insert(0, xy(row.curve[0][0], 0.0))
        parts.append(
            f'<polyline class="curve" data-model="{escape(row.label)}" '
            f'data-points="{len(row.curve)}" fill="none" stroke="{colour(i)}" stroke-width="2" '
            f'points="{" ".join(points)}"><title>{escape(row.label)}</title></polyline>'
        )
    return (
        f'<svg class="pnl" role="img" aria-label="cumulative net P&amp;L per model" '
        f'width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}">{"".join(parts)}</svg>'
    )


def _legend(rows: list[ModelRow]) -> str:
    items = "".join(
        f'<li data-model="{escape(row.label)}"><span class="swatch" '
        f'style="background:{colour(i)}"></span>{escape(row.label)}</li>'
        for i, row in enumerate(rows)
    )
    return f'<ul class="legend">{items}</ul>'


def _interval(p: ModelPerformance, name: str, digits: int = 3) -> str:
    found = getattr(p.intervals, name, None) if p.intervals else None
    if found is None or found.low is None or found.high is None:
        return ""
    return f" [{_figure(found.low, digits)}, {_figure(found.high, digits)}]"


def _table(rows: list[ModelRow]) -> str:
    sources = sorted({source for row in rows for source in row.exits})
    head = "".join(f"<th>exits: {escape(s)}</th>" for s in sources)
    body = []
    for i, row in enumerate(rows):
        p = row.performance
        cells = "".join(f"<td>{row.exits.get(s, 0)}</td>" for s in sources)
        money = rupees if p.trades else lambda _: "–"  # nothing closed: no figure, not ₹0
        thin = ' <span title="fewer than 30 positions">(few)</span>' if p.insufficient_data else ""
        body.append(
            f'<tr class="model" data-model="{escape(row.label)}">'
            f'<td><span class="swatch" style="background:{colour(i)}"></span>'
            f"{escape(row.label)}</td><td>{p.trades}</td>"
            f"<td>{row.positions} ({row.open_positions} open)</td><td>{_percent(p.win_rate)}</td>"
            f"<td>{money(p.total_pnl)}</td><td>{money(p.charges)}</td><td>{money(p.net_pnl)}</td>"
            f"<td>{_figure(p.auc)}{_interval(p, 'auc')}{thin}</td><td>{_figure(p.brier)}</td>"
            f"<td>{_percent(p.completeness)}</td>{cells}</tr>"
        )
    return (
        "<table><thead><tr><th>model</th><th>trades</th><th>positions</th><th>win rate (net)</th>"
        "<th>gross P&amp;L</th><th>charges</th><th>net P&amp;L</th><th>AUC [95%]</th>"
        f"<th>Brier</th><th>complete records</th>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def wilson(wins: float, count: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """The Wilson score interval of a win rate (95%): sound for small counts and 0% or 100%."""
    share, shrink = wins / count, 1 + z * z / count
    centre = (share + z * z / (2 * count)) / shrink
    half = z * math.sqrt(share * (1 - share) / count + z * z / (4 * count * count)) / shrink
    return max(0.0, centre - half), min(1.0, centre + half)


def _calibration_svg(row: ModelRow, index: int) -> str:
    """Mean score (x) against observed win rate (y) per bin, Wilson 95% whiskers, diagonal."""
    size, pad = CAL_SIZE, CAL_PAD
    span = size - 2 * pad

    def at(x: float, y: float) -> tuple[float, float]:
        return pad + span * x, size - pad - span * y

    (x0, y0), (x1, y1) = at(0, 0), at(1, 1)
    parts = [
        f'<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y1}" stroke="#bbb" stroke-dasharray="3 3"/>',
        _text(size / 2, size - 6, "mean score", "middle"),
        _text(pad - 4, y1 + 4, "100%"), _text(pad - 4, y0, "0%"),
        f'<text x="10" y="{size / 2}" font-size="10" text-anchor="middle" '
        f'transform="rotate(-90 10 {size / 2})">win rate</text>',
    ]  # fmt: skip
    points = []
    for b in row.performance.calibration:
        if not b.count or b.mean_score is None or b.win_rate is None:
            continue
        low, high = wilson(b.win_rate * b.count, b.count)
        x, y = at(b.mean_score, b.win_rate)
        radius = 2 + min(4, math.sqrt(b.count))
        _, y_low = at(0, low)
        _, y_high = at(0, high)
        parts.append(
            f'<line class="interval" x1="{x:.1f}" x2="{x:.1f}" y1="{y_low:.1f}" y2="{y_high:.1f}" '
            f'stroke="{colour(index)}" stroke-opacity=".5"/>'
        )
        parts.append(
            f'<circle class="bin" cx="{x:.1f}" cy="{y:.1f}" r="{radius:.1f}" '
            f'fill="{colour(index)}"><title>{b.count} positions, score {b.mean_score:.2f}, '
            f"won {b.win_rate:.0%} [{low:.0%}, {high:.0%}]</title></circle>"
        )
        points.append(f"{x:.1f},{y:.1f}")
    if len(points) > 1:
        parts.append(
            f'<polyline fill="none" stroke="{colour(index)}" points="{" ".join(points)}"/>'
        )
    p = row.performance
    caption = (
        f"{escape(row.label)}: {p.scored_positions} scored positions; AUC {_figure(p.auc)}"
        f"{_interval(p, 'auc')}, Brier {_figure(p.brier)}, log loss {_figure(p.log_loss)}"
    )
    return (
        f'<figure data-model="{escape(row.label)}"><svg class="calibration-curve" role="img" '
        f'aria-label="calibration of {escape(row.label)}" width="{size}" height="{size}" '
        f'viewBox="0 0 {size} {size}">{"".join(parts)}</svg><figcaption>{caption}</figcaption>'
        "</figure>"
    )


def _compare_form(rows: list[ModelRow], comparison: ModelComparison | None) -> str:
    versions = sorted({r.performance.model_version for r in rows if r.performance.model_version})

    def options(chosen: str | None) -> str:
        return "".join(
            f"<option{' selected' if v == chosen else ''}>{escape(v)}</option>" for v in versions
        )

    base = comparison.baseline.model_version if comparison else None
    cand = comparison.candidate.model_version if comparison else None
    metrics = ("mean_net_pnl", "win_rate", "auc")
    chosen = comparison.metric if comparison else "mean_net_pnl"
    metric_options = "".join(
        f"<option{' selected' if m == chosen else ''}>{m}</option>" for m in metrics
    )
    return (
        '<form id="compare" method="get" action="/models">'
        f'<label>baseline <select name="baseline">{options(base)}</select></label>'
        f'<label>candidate <select name="candidate">{options(cand)}</select></label>'
        f'<label>metric <select name="metric">{metric_options}</select></label>'
        '<button type="submit">compare</button></form>'
    )


def _comparison(c: ModelComparison) -> str:
    """Each arm, the difference with its interval drawn on a line through zero, the p-value."""
    money = c.metric == "mean_net_pnl"

    def shown(value: float | None) -> str:
        return rupees(value) if money and value is not None else _figure(value, 4)

    rows = "".join(
        f'<tr class="arm" data-arm="{name}"><td>{name}</td><td>{escape(arm.model_version)}</td>'
        f"<td>{arm.n}</td><td>{shown(arm.value)}</td></tr>"
        for name, arm in (("baseline", c.baseline), ("candidate", c.candidate))
    )
    figure = ""
    if c.low is not None and c.high is not None and c.difference is not None:
        edge = max(abs(c.low), abs(c.high), abs(c.difference)) * 1.2 or 1.0
        width, mid = 420, 210

        def x(v: float) -> float:
            return mid + (width / 2 - 20) * v / edge

        figure = (
            f'<svg class="difference" role="img" aria-label="difference and its interval" '
            f'width="{width}" height="50" viewBox="0 0 {width} 50">'
            f'<line x1="{mid}" x2="{mid}" y1="5" y2="35" stroke="#999" stroke-dasharray="3 3"/>'
            f'<line class="interval" x1="{x(c.low):.1f}" x2="{x(c.high):.1f}" y1="20" y2="20" '
            f'stroke="#0072b2" stroke-width="3"/><circle cx="{x(c.difference):.1f}" cy="20" r="5" '
            f'fill="#0072b2"/>{_text(mid, 47, "0", "middle")}'
            f"{_text(x(c.low), 12, shown(c.low), 'middle')}"
            f"{_text(x(c.high), 12, shown(c.high), 'middle')}</svg>"
        )
    return (
        f'<section id="comparison" data-metric="{escape(c.metric)}"><h3>{escape(c.metric)}: '
        f"candidate − baseline</h3><table><thead><tr><th>arm</th><th>version</th><th>positions</th>"
        f"<th>{escape(c.metric)}</th></tr></thead><tbody>{rows}</tbody></table>"
        f'<p>difference <b id="difference">{shown(c.difference)}</b>, 95% interval '
        f"[{shown(c.low)}, {shown(c.high)}], permutation p = {_figure(c.p_value, 4)}</p>"
        f"{figure}</section>"
    )


def render_models_page(
    rows: list[ModelRow],
    quality_url: str | None = None,
    comparison: ModelComparison | None = None,
) -> str:
    """The whole page; `quality_url` links back to the quality dashboard when known."""
    now = datetime.now(IST).strftime("%Y-%m-%d %H:%M IST")
    link = f' · <a href="{escape(quality_url)}">data quality</a>' if quality_url else ""
    gross = sum(row.gross_trades for row in rows)
    note = (
        f'<p class="note">{plural(gross, "trade")} without recorded charges '
        "count gross in the curve.</p>"
        if gross
        else ""
    )
    calibration = "".join(
        _calibration_svg(row, i) for i, row in enumerate(rows) if row.performance.scored_positions
    )
    content = (
        f"<h2>Cumulative net P&amp;L by close time (after charges)</h2>{_curve_svg(rows)}"
        f"{_legend(rows)}{note}"
        "<h2>Per model</h2>"
        '<p class="note">gross P&amp;L is before charges, net P&amp;L after; a win is a position '
        "whose net P&amp;L is above zero.</p>"
        f"{_table(rows)}"
        "<h2>Calibration: observed win rate by score (Wilson 95% intervals)</h2>"
        f'<div class="calibration">{calibration or "<p>No scored positions yet.</p>"}</div>'
        f"<h2>Compare two versions</h2>{_compare_form(rows, comparison)}"
        f"{_comparison(comparison) if comparison else ''}"
        if rows
        else '<p id="empty">No positions yet.</p>'
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>Optrade models</title>"
        f"<style>{STYLE}</style></head><body><h1>Optrade models</h1>"
        f'<p><span id="model-count">{plural(len(rows), "model")}</span> · {now}{link}</p>'
        f"{content}</body></html>"
    )
