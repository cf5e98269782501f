"""A backtest through the platform: a signal engine walked over a replayed market.

    optrade backtest --from 2025-10-13 --to 2025-11-21 --engine examples.signal_engine:decide

For each session (IST date) of the range, the walk takes the replay's snapshot instants in time
order (market data's `GET /v1/replay/instants`); at each it first advances the order engine to
that instant (`POST /v1/engine/advance`: resting orders, stops, targets, trailing stops, exit_at,
MIS square-off, DAY expiry and settlement happen as they would live), then shows the engine the
market as of that instant only (`MarketView`: every chain and quote carries `as_of` at or before
the clock, a later one is refused) and sends the engine's decisions to the order service with
`as_of` = the clock. After a session's last snapshot the walk advances to the end of its day and
runs the quality check of that day's replay trades (`POST /quality/checks?mode=replay`).

A decision is a mapping: an order with its exits (the keyword arguments of `Optrade.open`,
`"action": "open"` by default), new exits for a position (`"action": "exits"`, `position_id`
and the fields of `Optrade.set_exits`) or a close (`"action": "close"`, `position_id`, `lots`,
`reason`). The backtest owns `as_of`, `client_order_id` and the idempotency key: each decision's
key is `bt-<run id>-<instant>-<index>`, so a second run with the same run id replays what the
first one sent instead of placing it again. The state (finished sessions, their orders,
positions, refusals and quality runs) is written after each session to
`./data/backtests/<run id>.json`; a run continues after its last finished session.
"""

from __future__ import annotations

import csv
import importlib
import io
import json
import re
import sys
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from optrade_client.calls import Instant
from optrade_client.client import Optrade
from optrade_client.errors import ApiError, Unauthorized
from optrade_client.models import AtmSymbols, Chain, Quote, Trade

IST = ZoneInfo("Asia/Kolkata")
STATE_DIR = Path("data") / "backtests"
RUN_ID = re.compile(r"^[A-Za-z0-9._-]{1,80}$")
OWNED_FIELDS = ("client_order_id", "idempotency_key")
ACTIONS = ("open", "exits", "close")

Decision = Mapping[str, Any]
Engine = Callable[["MarketView"], Sequence[Decision] | None]
Progress = Callable[[int, int, date], None]  # instants walked, instants in all, session


class LookAhead(ValueError):  # noqa: N818 - the name says what the engine did
    """The engine asked for (or acted at) a market instant later than the walk's clock."""


# --- what the engine sees -----------------------------------------------------------------------


def as_instant(value: Instant) -> datetime:
    """An aware instant: a date is its 00:00 IST, a naive time is IST wall clock."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if not isinstance(value, datetime):
        value = datetime.combine(value, time(), IST)
    return value if value.tzinfo is not None else value.replace(tzinfo=IST)


class MarketView:
    """The market at one instant of the walk: `now`, and nothing after it.

    `chain()` and `quote()` ask market data with `as_of` = `now` unless an earlier `as_of` is
    given (the past is allowed: `earlier` lists this session's observations before `now`); a
    later `as_of` raises `LookAhead` without asking.
    """

    def __init__(
        self,
        client: Optrade,
        *,
        underlying: str,
        now: datetime,
        earlier: Sequence[datetime] = (),
        chains: dict[tuple[str, str | None, datetime], Chain] | None = None,
    ) -> None:
        self.underlying = underlying
        self.now = now
        self.earlier = tuple(earlier)
        self._client = client
        self._chains = {} if chains is None else chains

    @property
    def session(self) -> date:
        """The trading session (IST date) of `now`."""
        return self.now.astimezone(IST).date()

    def _as_of(self, as_of: Instant | None) -> datetime:
        asked = self.now if as_of is None else as_instant(as_of)
        if asked > self.now:
            raise LookAhead(
                f"as_of {asked.isoformat()} is later than the walk's clock {self.now.isoformat()}"
            )
        return asked

    def chain(
        self,
        underlying: str | None = None,
        *,
        expiry: date | str | None = None,
        as_of: Instant | None = None,
    ) -> Chain:
        """The chain of an expiry (default: the nearest listed) as of `now` or earlier."""
        name, at = underlying or self.underlying, self._as_of(as_of)
        key = (name, None if expiry is None else str(expiry), at)
        if key not in self._chains:
            self._chains[key] = self._client.chain(name, expiry=expiry, as_of=at)
        return self._chains[key]

    def quote(
        self,
        underlying: str | None = None,
        *,
        strike: float,
        option_type: str,
        expiry: date | str | None = None,
        as_of: Instant | None = None,
    ) -> Quote:
        """One option with its Greeks, as of `now` or earlier."""
        name, at = underlying or self.underlying, self._as_of(as_of)
        return self._client.quote(
            name, strike=strike, option_type=option_type, expiry=expiry, as_of=at
        )

    def atm_symbols(
        self,
        underlying: str | None = None,
        *,
        expiry: date | str | None = None,
        as_of: Instant | None = None,
    ) -> AtmSymbols:
        """The at-the-money call and put of the nearest (or the given) expiry."""
        return AtmSymbols.of(self.chain(underlying, expiry=expiry, as_of=as_of))


# --- the engine and the run's identity ----------------------------------------------------------


def load_engine(spec: str) -> Engine:
    """The callable named `module:function`, imported with the current directory on the path
    (as uvicorn imports an app)."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"{spec!r}: give the engine as module:function")
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    target: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise ValueError(f"{spec!r} is not callable")
    engine: Engine = target
    return engine


def default_run_id(engine: str, underlying: str, first: date, last: date) -> str:
    """The run id when none is given: the same arguments name the same run (and resume it)."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", engine.replace(":", "."))
    return f"{name}-{underlying}-{first:%Y%m%d}-{last:%Y%m%d}"


def decision_key(run_id: str, instant: datetime, index: int) -> str:
    """The idempotency key and client_order_id of a decision: the run, the instant, the index."""
    return f"bt-{run_id}-{instant.astimezone(UTC):%Y%m%dT%H%M%SZ}-{index}"


# --- the state a run resumes from ---------------------------------------------------------------


@dataclass
class SessionResult:
    """What the walk did in one session."""

    session: str
    instants: int = 0
    orders: list[int] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)
    placed_at: dict[str, str] = field(default_factory=dict)  # order id -> the clock it was sent at
    quality_run: dict[str, Any] | None = None


@dataclass
class BacktestState:
    """A run's identity and its finished sessions, kept in `<state dir>/<run id>.json`."""

    run_id: str
    engine: str
    underlying: str
    start: str
    end: str
    sessions: dict[str, SessionResult] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> BacktestState | None:
        if not path.is_file():
            return None
        data = json.loads(path.read_text())
        sessions = {day: SessionResult(**s) for day, s in data.pop("sessions").items()}
        return cls(**data, sessions=sessions)

    def save(self, path: Path) -> None:
        """Write the state whole, then rename: a kill never leaves half a file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".json.partial")
        partial.write_text(json.dumps(asdict(self), indent=1))
        partial.replace(path)

    def positions(self) -> set[int]:
        return {p for s in self.sessions.values() for p in s.positions}


# --- the walk -----------------------------------------------------------------------------------


def sessions_of(instants: Sequence[datetime]) -> dict[date, list[datetime]]:
    """The instants grouped by session (IST date), each in time order."""
    by_day: dict[date, list[datetime]] = defaultdict(list)
    for instant in sorted(instants):
        by_day[instant.astimezone(IST).date()].append(instant)
    return dict(sorted(by_day.items()))


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(), IST)


@dataclass
class Backtest:
    """One run of an engine over a replay range, resumable by its run id."""

    client: Optrade
    engine: Engine
    state: BacktestState
    state_path: Path
    progress: Progress | None = None

    def walk(self) -> BacktestState:
        """Walk every session not finished yet, saving the state after each."""
        first = date.fromisoformat(self.state.start)
        last = date.fromisoformat(self.state.end)
        instants = self.client.replay_instants(
            self.state.underlying,
            from_=day_start(first),
            to=day_start(last + timedelta(days=1)) - timedelta(microseconds=1),
        )
        sessions = sessions_of(instants)
        total = sum(len(v) for v in sessions.values())
        done = sum(len(v) for k, v in sessions.items() if k.isoformat() in self.state.sessions)
        for day, clock in sessions.items():
            if day.isoformat() in self.state.sessions:
                continue
            result = self._walk_session(day, clock, done, total)
            done += len(clock)
            self.state.sessions[day.isoformat()] = result
            self.state.save(self.state_path)
        return self.state

    def _walk_session(
        self, day: date, clock: Sequence[datetime], done: int, total: int
    ) -> SessionResult:
        result = SessionResult(day.isoformat(), instants=len(clock))
        chains: dict[tuple[str, str | None, datetime], Chain] = {}
        for step, now in enumerate(clock):
            self.client.advance(now)
            market = MarketView(self.client, underlying=self.state.underlying, now=now,
                                earlier=clock[:step], chains=chains)  # fmt: skip
            for index, decision in enumerate(self.engine(market) or ()):
                self._send(decision, now, decision_key(self.state.run_id, now, index), result)
            if self.progress is not None:
                self.progress(done + step + 1, total, day)
        self.client.advance(day_start(day + timedelta(days=1)) - timedelta(seconds=1))
        run = self.client.run_quality_check(
            from_=day_start(day), to=day_start(day + timedelta(days=1)), mode="replay"
        )
        result.quality_run = {"id": run.id, "status": run.status, "total_trades": run.total_trades}
        return result

    def _send(self, decision: Decision, now: datetime, key: str, result: SessionResult) -> None:
        """Send one decision at the clock; a refusal (4xx) is recorded, not raised."""
        action, fields = checked_decision(decision, now)
        try:
            if action == "open":
                order = self.client.open(**fields, as_of=now, client_order_id=key,
                                         idempotency_key=key)  # fmt: skip
                result.orders.append(order.id)
                result.placed_at[str(order.id)] = now.isoformat()
                if order.position_id is not None:
                    result.positions.append(order.position_id)
            elif action == "exits":
                self.client.set_exits(int(fields.pop("position_id")), **fields, as_of=now)
            else:
                position_id = int(fields.pop("position_id"))
                self.client.close(position_id, **fields, as_of=now, idempotency_key=key)
        except Unauthorized:
            raise
        except ApiError as exc:
            if exc.status >= 500:
                raise
            result.refused.append({"key": key, "action": action, "status": exc.status,
                                   "detail": exc.detail, "field": exc.field})  # fmt: skip


def checked_decision(decision: Decision, now: datetime) -> tuple[str, dict[str, Any]]:
    """The decision's action and fields; refuses what the backtest owns or a later instant."""
    fields = dict(decision)
    action = str(fields.pop("action", "open"))
    if action not in ACTIONS:
        raise ValueError(f"decision action {action!r}: one of {', '.join(ACTIONS)}")
    for owned in OWNED_FIELDS:
        if owned in fields:
            raise ValueError(f"a decision carries no {owned}: the backtest derives it")
    if "as_of" in fields:
        asked = as_instant(fields.pop("as_of"))
        if asked > now:
            raise LookAhead(f"a decision at {asked.isoformat()} is later than {now.isoformat()}")
        if asked != now:
            raise ValueError(f"a decision acts at the clock {now.isoformat()}, not earlier")
    if action != "open" and "position_id" not in fields:
        raise ValueError(f"an {action!r} decision names its position_id")
    return action, fields


def run_backtest(
    client: Optrade,
    engine: str,
    *,
    start: date,
    end: date,
    underlying: str = "NIFTY",
    run_id: str | None = None,
    state_dir: Path = STATE_DIR,
    progress: Progress | None = None,
) -> BacktestState:
    """Walk (or continue walking) `engine` over the sessions from `start` to `end`."""
    if end < start:
        raise ValueError(f"--to {end} is before --from {start}")
    run_id = run_id or default_run_id(engine, underlying, start, end)
    if not RUN_ID.match(run_id):
        raise ValueError(f"run id {run_id!r}: letters, digits, '.', '_' or '-', at most 80")
    path = state_dir / f"{run_id}.json"
    fresh = BacktestState(run_id, engine, underlying.upper(), start.isoformat(), end.isoformat())
    state = BacktestState.load(path) or fresh
    if (state.engine, state.underlying, state.start, state.end) != (
        fresh.engine, fresh.underlying, fresh.start, fresh.end,
    ):  # fmt: skip
        raise ValueError(
            f"run {run_id} was started with {state.engine} on {state.underlying} "
            f"{state.start}..{state.end}; give another --run-id"
        )
    backtest = Backtest(client, load_engine(engine), state, path, progress)
    return backtest.walk()


# --- the report ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    """What a run traded, by day and by exit reason, and its quality runs."""

    run_id: str
    trades: list[Trade]
    open_positions: int
    refused: int
    orders: int
    quality_runs: dict[str, dict[str, Any] | None]

    def pnl_by(self, key: Callable[[Trade], str]) -> dict[str, tuple[int, Decimal, Decimal]]:
        """(trades, P&L, net P&L) per key, in key order."""
        rows: dict[str, list[Any]] = defaultdict(lambda: [0, Decimal(0), Decimal(0)])
        for trade in self.trades:
            row = rows[key(trade)]
            row[0] += 1
            row[1] += trade.pnl
            row[2] += _net(trade)
        return {k: (v[0], v[1], v[2]) for k, v in sorted(rows.items())}

    def return_on_margin(self) -> str:
        """The trades' mean return on margin, or n/a when the order service gives none."""
        values = [t.raw.get("return_on_margin") for t in self.trades]
        known = [Decimal(str(v)) for v in values if v is not None]
        if not known or len(known) != len(values):
            return "n/a"
        return f"{sum(known) / len(known):.4f} (mean per trade)"

    def render(self) -> str:
        return "\n".join(self._lines())

    def _lines(self) -> Iterator[str]:
        gross = sum((t.pnl for t in self.trades), Decimal(0))
        net = sum((_net(t) for t in self.trades), Decimal(0))
        yield f"backtest {self.run_id}"
        yield (f"orders {self.orders}, refused {self.refused}, trades {len(self.trades)}, "
               f"positions without a trade {self.open_positions}")  # fmt: skip
        yield f"P&L {gross:,.2f}, net of charges {net:,.2f}"
        yield f"return on margin: {self.return_on_margin()}"
        yield "by day (IST, closed):  trades  P&L  net"
        for day, (count, pnl, net_pnl) in self.pnl_by(_closed_day).items():
            yield f"  {day}  {count:4d}  {pnl:12,.2f}  {net_pnl:12,.2f}"
        yield "by exit reason:  trades  P&L  net"
        for reason, (count, pnl, net_pnl) in self.pnl_by(_exit_reason).items():
            yield f"  {reason:<14}  {count:4d}  {pnl:12,.2f}  {net_pnl:12,.2f}"
        yield "quality runs (mode replay):"
        for day, run in self.quality_runs.items():
            shown = (f"run {run['id']} {run['status']}, {run['total_trades']} trades"
                     if run else "none")  # fmt: skip
            yield f"  {day}  {shown}"


def _net(trade: Trade) -> Decimal:
    net = trade.raw.get("net_pnl")
    return trade.pnl if net is None else Decimal(str(net))


def _closed_day(trade: Trade) -> str:
    return trade.closed_at.astimezone(IST).date().isoformat()


def _exit_reason(trade: Trade) -> str:
    return str(trade.raw.get("exit_reason") or "client")


def report_of(client: Optrade, state: BacktestState) -> Report:
    """The run's closed trades (those of the positions it opened) and its sessions."""
    mine = state.positions()
    trades = [t for t in client.trades(from_=day_start(date.fromisoformat(state.start)))
              if t.position_id in mine]  # fmt: skip
    trades.sort(key=lambda t: (t.closed_at, t.id))
    still_open = len(mine - {t.position_id for t in trades})  # no trade yet: still open
    sessions = state.sessions.values()
    return Report(
        run_id=state.run_id, trades=trades, open_positions=still_open,
        refused=sum(len(s.refused) for s in sessions), orders=sum(len(s.orders) for s in sessions),
        quality_runs={s.session: s.quality_run for s in sessions},
    )  # fmt: skip


def write_certified_export(client: Optrade, state: BacktestState, path: Path) -> int:
    """Write the run's trades certified by its passing quality runs as one CSV; the rows."""
    mine = {str(p) for p in state.positions()}
    header: list[str] | None = None
    rows: list[dict[str, str]] = []
    for result in state.sessions.values():
        run = result.quality_run
        if not run or run["status"] != "pass" or not run["total_trades"]:
            continue
        reader = csv.DictReader(io.StringIO(client.quality_run_trades(int(run["id"]))))
        header = header or list(reader.fieldnames or [])
        rows += [row for row in reader if row.get("position_id") in mine]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=header or ["id", "position_id"])
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)
