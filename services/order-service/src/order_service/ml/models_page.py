"""`GET /models`: a page for people, per model version and hash (inline SVG, no JavaScript).

Per model: the cumulative P&L over close time (net of charges when trades carry `net_pnl`, else
gross), win rate, trades and positions, data completeness (`complete_record`), and the split of
exits by the source of the exit snapshot (primary, fallback, client, backfill, missing, ...).
Aggregates come from the database (GROUP BY); the curve reads one (model, closed_at, P&L) row
per trade, thinned to at most `MAX_POINTS` points per model.
"""

from __future__ import annotations

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
from order_service.ml.schemas import ModelPerformance, StrategyPerformance

TRADE = Trade.__table__  # type: ignore[attr-defined]
POSITION = Position.__table__  # type: ignore[attr-defined]
MAX_POINTS = 400
WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 760, 260, 70, 150, 14, 26
PALETTE = ("#1565c0", "#c62828", "#2e7d32", "#6a1b9a", "#ef6c00", "#00838f", "#5d4037")
STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:62rem}
h1{font-size:1.4rem} h2{font-size:1.1rem;margin:1.6rem 0 .4rem}
table{border-collapse:collapse;margin-top:.6rem}
td,th{padding:.2rem .6rem;border-bottom:1px solid #ddd;text-align:right}
td:first-child,th:first-child{text-align:left}
svg{background:#fafafa;border:1px solid #ddd}
.swatch{display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem;vertical-align:middle}
"""

Key = tuple[str | None, str | None]


@dataclass
class ModelRow:
    """Everything the page shows about one (model_version, model_hash)."""

    performance: ModelPerformance
    positions: int = 0
    open_positions: int = 0
    exits: dict[str, int] = field(default_factory=dict)
    curve: list[tuple[datetime, float]] = field(default_factory=list)

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


def _exits(connection: Any, window: TradeWindow) -> dict[Key, dict[str, int]]:
    keys = (TRADE.c.model_version, TRADE.c.model_hash, TRADE.c.exit_source)
    query = select(*keys, func.count()).where(*trade_conditions(window)).group_by(*keys)
    found: dict[Key, dict[str, int]] = {}
    for version, model_hash, source, count in connection.execute(query):
        found.setdefault((version, model_hash), {})[source or "unknown"] = int(count)
    return found


def _positions(connection: Any) -> dict[Key, tuple[int, int]]:
    keys = (POSITION.c.model_version, POSITION.c.model_hash)
    is_open = func.count(case((POSITION.c.status == PositionStatus.OPEN.value, 1)))
    query = select(*keys, func.count(), is_open).group_by(*keys)
    return {(v, h): (int(n), int(o or 0)) for v, h, n, o in connection.execute(query)}


def model_rows(engine: Engine, window: TradeWindow) -> list[ModelRow]:
    """One row per model that closed a trade in `window`, best total P&L first."""
    # Every exit counts here: the page splits them by source beside the figures.
    rows = [ModelRow(p) for p in model_performance(engine, window, set(Doubtful))]
    with reader_engine(engine).connect() as connection:
        curves, exits = _curves(connection, window), _exits(connection, window)
        positions = _positions(connection)
    for row in rows:
        row.curve = curves.get(row.key, [])
        row.exits = exits.get(row.key, {})
        row.positions, row.open_positions = positions.get(row.key, (0, 0))
    return rows


# --- rendering ----------------------------------------------------------------------------------


def _percent(share: float | None) -> str:
    """A share as a percentage; a dash when there was nothing to count (every exit doubtful)."""
    return "–" if share is None else f"{share:.0%}"


def _scale(rows: list[ModelRow]) -> tuple[float, float, float, float]:
    times = [t.timestamp() for row in rows for t, _ in row.curve]
    values = [v for row in rows for _, v in row.curve] + [0.0]
    t0, t1 = min(times, default=0.0), max(times, default=1.0)
    low, high = min(values), max(values)
    return t0, (t1 - t0) or 1.0, low, (high - low) or 1.0


def _axis_label(y: float, rupees: float) -> str:
    return f'<text x="{LEFT - 4}" y="{y}" font-size="10" text-anchor="end">₹{rupees:,.0f}</text>'


def _curve_svg(rows: list[ModelRow], pnl_name: str) -> str:
    """One polyline per model: cumulative P&L (rupees) against close time."""
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
        _axis_label(TOP + 8, low + height),
        _axis_label(TOP + plot_h, low),
    ]
    for i, row in enumerate(rows):
        colour = PALETTE[i % len(PALETTE)]
        points = [xy(t, v) for t, v in row.curve]
        if len(points) == 1:  # one trade: a visible step from zero
            points.insert(0, xy(row.curve[0][0], 0.0))
        parts.append(
            f'<polyline class="curve" data-model="{escape(row.label)}" '
            f'data-points="{len(row.curve)}" fill="none" stroke="{colour}" stroke-width="2" '
            f'points="{" ".join(points)}"><title>{escape(row.label)}</title></polyline>'
        )
        y = TOP + 12 + 14 * i
        parts.append(
            f'<text x="{WIDTH - RIGHT + 8}" y="{y}" font-size="11" fill="{colour}">'
            f"{escape(row.label)}</text>"
        )
    return (
        f'<svg class="pnl" role="img" aria-label="cumulative {pnl_name} per model" '
        f'width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}">{"".join(parts)}</svg>'
    )


def _table(rows: list[ModelRow]) -> str:
    sources = sorted({source for row in rows for source in row.exits})
    head = "".join(f"<th>exits: {escape(s)}</th>" for s in sources)
    body = []
    for i, row in enumerate(rows):
        p = row.performance
        cells = "".join(f"<td>{row.exits.get(s, 0)}</td>" for s in sources)
        body.append(
            f'<tr class="model" data-model="{escape(row.label)}">'
            f'<td><span class="swatch" style="background:{PALETTE[i % len(PALETTE)]}"></span>'
            f"{escape(row.label)}</td><td>{p.trades}</td><td>{_percent(p.win_rate)}</td>"
            f"<td>₹{p.total_pnl:,.2f}</td><td>{row.positions} ({row.open_positions} open)</td>"
            f"<td>{_percent(p.completeness)}</td>{cells}</tr>"
        )
    return (
        "<table><thead><tr><th>model</th><th>trades</th><th>win rate</th><th>total P&amp;L</th>"
        f"<th>positions</th><th>complete records</th>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _strategy_table(strategies: list[StrategyPerformance]) -> str:
    body = "".join(
        f'<tr class="strategy" data-strategy="{escape(s.strategy)}"><td>{escape(s.label)}</td>'
        f"<td>{escape(s.strategy)}</td><td>{s.decisions}</td><td>{s.trades}</td>"
        f"<td>{_percent(s.win_rate)}</td><td>₹{s.total_pnl:,.2f}</td>"
        f"<td>{'–' if s.margin is None else f'₹{s.margin:,.2f}'}</td>"
        f"<td>{_percent(s.return_on_margin)}</td></tr>"
        for s in strategies
    )
    return (
        "<h2>Per strategy (a strategy's legs are one decision)</h2><table><thead><tr>"
        "<th>model</th><th>strategy</th><th>decisions</th><th>trades</th><th>win rate</th>"
        "<th>total P&amp;L</th><th>margin</th><th>return on margin</th></tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )


def render_models_page(
    rows: list[ModelRow],
    quality_url: str | None = None,
    strategies: list[StrategyPerformance] | None = None,
) -> str:
    """The whole page; `quality_url` links back to the quality dashboard when known; the table
    per strategy when `strategies` are given."""
    pnl_name = "net P&L" if "net_pnl" in TRADE.c else "P&L"
    now = datetime.now(IST).strftime("%Y-%m-%d %H:%M IST")
    link = f' · <a href="{escape(quality_url)}">data quality</a>' if quality_url else ""
    content = (
        f"<h2>Cumulative {escape(pnl_name)} by close time</h2>{_curve_svg(rows, pnl_name)}"
        f"<h2>Per model</h2>{_table(rows)}"
        f"{_strategy_table(strategies) if strategies is not None else ''}"
        if rows
        else '<p id="empty">No closed trades yet.</p>'
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>Optrade models</title>"
        f"<style>{STYLE}</style></head><body><h1>Optrade models</h1>"
        f'<p><span id="model-count">{len(rows)}</span> models · {now}{link}</p>'
        f"{content}</body></html>"
    )
