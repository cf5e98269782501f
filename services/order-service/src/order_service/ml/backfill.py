"""Backfill: repair entry and exit snapshots that no provider served, from market-data history.

A snapshot is repaired only while its source is `missing`. The provider is asked, through the
shared client's primary → fallback chain, for the option as it was at the trade's recorded market
time (`<side>_market_at`; when that is unknown, `closed_at` for the exit and `opened_at` for the
entry). The repair writes every snapshot column, source `backfill`, and `captured_at` = the time
of the repair. The UPDATE's WHERE clause re-checks `source = 'missing'`, so a live capture is
never overwritten and two concurrent runs cannot both write one snapshot; a run that finds
nothing missing changes nothing. When no provider answers, the snapshot stays `missing` and its
`error` holds the latest reason.

Honest history: a snapshot is repaired only from the trade's own market. A trade captured from a
real provider (`openalgo`, `upstox`, `recorded`, `nse-replay`; entry provider first) is never
repaired from `simulated` (a live market-data instance answers a past instant from its own
recording only); a simulated trade is never repaired from a real market. When nothing can see
that instant, the reason reads "no recorded history for <provider> at <time>".

A run is bounded: at most `limit` trades (ordered by id, after `after_id`); the report's
`next_after_id` says where the next run starts, so trades that cannot be repaired yet never block
the ones behind them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Engine, or_, select, update

from optrade.clients.market_data import CapturedQuote, MarketDataError, QuoteRequest
from optrade.db.models import Trade
from optrade.domain import IST, SnapshotSource, utcnow
from optrade.schemas.market import OptionQuote
from order_service.ml.schemas import BackfillReport, SideBackfill
from order_service.snapshots import captured_snapshot

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 500
SIDES = ("entry", "exit")
MISSING = SnapshotSource.MISSING.value
SIMULATED = "simulated"
TRADE = Trade.__table__  # type: ignore[attr-defined]
# The trade's own time of each side, used when the market time was not recorded.
_FALLBACK_TIME = {"entry": "opened_at", "exit": "closed_at"}


class QuoteSource(Protocol):
    """What the backfill needs of the market-data client: `MarketDataClient.capture_quote`
    fits (the client's async capture run on its own loop, for this sync caller)."""

    def capture_quote(
        self, request: QuoteRequest, *, refuse: Callable[[OptionQuote], str | None] | None = None
    ) -> CapturedQuote: ...


def trade_market(trade: Any) -> str | None:
    """The provider whose market the trade was captured in (entry first), None if unknown."""
    provider: str | None = trade["entry_provider"] or trade["exit_provider"]
    return provider


def market_refusal(market: str | None) -> Callable[[OptionQuote], str | None]:
    """Refuse a quote from another market: `simulated` for a trade captured in the real one
    (openalgo, upstox, recorded, nse-replay), and a real market for a simulated trade."""

    def refuse(quote: OptionQuote) -> str | None:
        if market is None or (quote.provider == SIMULATED) == (market == SIMULATED):
            return None
        return f"{quote.provider} cannot see the {market} market of this trade"

    return refuse


def missing_reason(market: str | None, as_of: datetime, exc: Exception) -> str:
    """Why a snapshot stays missing; for a real-market trade it starts "no recorded history"."""
    if market is not None and market != SIMULATED:
        at = as_of.astimezone(IST).isoformat()
        return (
            f"no recorded history for {market} at {at} (backfill at {utcnow().isoformat()}: {exc})"
        )
    return f"backfill at {utcnow().isoformat()} for {as_of.isoformat()}: {exc}"


@dataclass
class _Tally:
    examined: int = 0
    repaired: int = 0
    still_missing: int = 0
    skipped: int = 0

    def report(self) -> SideBackfill:
        return SideBackfill(**self.__dict__)


def snapshot_as_of(trade: Any, side: str) -> datetime:
    """The market instant a side's snapshot describes: its market time, else the trade's time."""
    market_at: datetime | None = trade[f"{side}_market_at"]
    return market_at if market_at is not None else trade[_FALLBACK_TIME[side]]


def _candidates(engine: Engine, after_id: int, limit: int) -> list[Any]:
    columns = [TRADE.c[name] for name in ("id", "underlying", "expiry", "strike", "option_type")]
    columns += [TRADE.c[name] for name in ("opened_at", "closed_at")]
    names = ("market_at", "source", "provider")
    columns += [TRADE.c[f"{side}_{name}"] for side in SIDES for name in names]
    query = (
        select(*columns)
        .where(TRADE.c.id > after_id, or_(*(TRADE.c[f"{s}_source"] == MISSING for s in SIDES)))
        .order_by(TRADE.c.id)
        .limit(limit)
    )
    with engine.connect() as connection:
        return list(connection.execute(query).mappings())


def _write_if_missing(engine: Engine, trade_id: int, side: str, values: dict[str, Any]) -> bool:
    """Apply `values` to the trade only while the side's source is still `missing`."""
    statement = (
        update(TRADE)
        .where(TRADE.c.id == trade_id, TRADE.c[f"{side}_source"] == MISSING)
        .values(**values)
    )
    with engine.begin() as connection:
        return bool(connection.execute(statement).rowcount)


def repair_snapshot(
    engine: Engine, quotes: QuoteSource, trade: Any, side: str, tally: _Tally
) -> None:
    """Ask the providers for one side of one trade and store the snapshot or the reason."""
    request = QuoteRequest(
        underlying=trade["underlying"],
        expiry=trade["expiry"],
        strike=trade["strike"],
        option_type=trade["option_type"],
        as_of=snapshot_as_of(trade, side),
    )
    tally.examined += 1
    market = trade_market(trade)
    try:
        captured = quotes.capture_quote(request, refuse=market_refusal(market))
    except MarketDataError as exc:
        reason = missing_reason(market, request.as_of, exc)
        if _write_if_missing(engine, trade["id"], side, {f"{side}_error": reason[:2000]}):
            tally.still_missing += 1
        else:
            tally.skipped += 1
        return
    values = captured_snapshot(f"{side}_", captured)
    values[f"{side}_source"] = SnapshotSource.BACKFILL.value
    if _write_if_missing(engine, trade["id"], side, values):
        tally.repaired += 1
    else:
        tally.skipped += 1


def backfill_snapshots(
    engine: Engine,
    quotes: QuoteSource,
    *,
    limit: int = DEFAULT_LIMIT,
    after_id: int = 0,
    clock: Callable[[], datetime] = utcnow,
) -> BackfillReport:
    """Repair the missing snapshots of at most `limit` trades with ids above `after_id`."""
    started_at = clock()
    tallies = {side: _Tally() for side in SIDES}
    trades = _candidates(engine, after_id, limit)
    for trade in trades:
        for side in SIDES:
            if trade[f"{side}_source"] == MISSING:
                repair_snapshot(engine, quotes, trade, side, tallies[side])
    report = BackfillReport(
        started_at=started_at,
        finished_at=clock(),
        limit=limit,
        after_id=after_id,
        entry=tallies["entry"].report(),
        exit=tallies["exit"].report(),
        next_after_id=trades[-1]["id"] if len(trades) == limit else None,
    )
    log.info(
        "backfill after id %d: entry %s, exit %s",
        after_id,
        report.entry.model_dump(),
        report.exit.model_dump(),
    )
    return report
