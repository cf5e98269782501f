"""The replay provider: the recorded NSE snapshot of the same session at or before an instant.

- Files are indexed at startup (`files`: recursively, `index.csv` when present, no JSON parse),
  parsed on first use and the last few kept in memory (a bounded LRU); the Chain of one (file,
  expiry) is built once, so the pricer's cache of its Greeks applies.
- `as_of` is served by the latest snapshot of the same trading session at or before it, at most
  `MARKET_DATA_REPLAY_MAX_AGE` old (`sessions`); otherwise 404 `no_data` naming the next instant
  that has data (`next_as_of`).
- Settlement: at or after 15:30 IST on an expiry date the expiring contract's spot is
  `records.index.last` (NSE's official close, on which index options settle), not the last tick
  `underlyingValue`; without an index block the last tick is used.
- Lot size from the instruments table by expiry; VIX from the India VIX file (see india_vix).
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from functools import lru_cache

from market_data_service.providers.base import (
    Chain,
    ExpiryListing,
    MarketSnapshot,
    UnderlyingListing,
    nearest_live_expiry,
    not_settled,
    put_call_ratio,
    unknown_expiry,
    unknown_underlying,
)
from market_data_service.providers.india_vix import IndiaVixHistory
from market_data_service.providers.live.errors import NoData
from market_data_service.providers.nse_replay.files import index_folder
from market_data_service.providers.nse_replay.legacy_csv import legacy_csv_name, parse_legacy_csv
from market_data_service.providers.nse_replay.option_chain_json import parse_snapshot
from market_data_service.providers.nse_replay.sessions import (
    Gap,
    instants_between,
    serving_snapshot,
)
from market_data_service.providers.nse_replay.snapshot import Snapshot, SnapshotFile
from market_data_service.settings import MarketDataSettings
from optrade.calendar import IST, expiry_close
from optrade.errors import NotFound
from optrade.instruments import InstrumentSpec, get_instruments
from optrade.settings import ConfigurationError

log = logging.getLogger(__name__)

PARSED_CACHE_SIZE = 16  # a session is about 13 snapshots; a parsed one is a few MB
DEFAULT_MAX_AGE = timedelta(minutes=45)
CHAIN_CACHE_SIZE = 64


class NseReplayProvider:
    """Serves the snapshot at or before the instant asked for."""

    name = "nse-replay"

    def __init__(
        self,
        files: list[SnapshotFile],
        *,
        instruments: dict[str, InstrumentSpec],
        vix: IndiaVixHistory | None = None,
        max_age: timedelta = DEFAULT_MAX_AGE,
    ) -> None:
        self._instruments = instruments
        self._vix = vix
        self._max_age = max_age
        self._files: dict[str, list[SnapshotFile]] = {}
        for item in sorted(files, key=lambda f: (f.taken_at, f.path.name)):
            if item.underlying not in instruments:
                log.warning("skipping %s: %s is not in the instruments table", item.path.name,
                            item.underlying)  # fmt: skip
                continue
            same = self._files.setdefault(item.underlying, [])
            if same and same[-1].taken_at == item.taken_at:
                log.warning("%s and %s have the same NSE time; using the latter",
                            same[-1].path.name, item.path.name)  # fmt: skip
                same.pop()
            same.append(item)
        if not self._files:
            raise ConfigurationError("no usable NSE snapshot for any configured underlying")
        self._taken_at = {name: [f.taken_at for f in same] for name, same in self._files.items()}
        self._parse = lru_cache(maxsize=PARSED_CACHE_SIZE)(self._parse_file)
        self._chain = lru_cache(maxsize=CHAIN_CACHE_SIZE)(self._build_chain)
        self._lot_warnings: set[tuple[str, date]] = set()

    @classmethod
    def from_settings(cls, settings: MarketDataSettings) -> NseReplayProvider:
        folder = settings.nse_replay_dir
        if folder is None or not folder.is_dir():
            raise ConfigurationError(
                f"MARKET_DATA_PROVIDER=nse-replay needs NSE_REPLAY_DIR to be a folder; got {folder}"
            )
        vix = IndiaVixHistory.load(settings.india_vix_file) if settings.india_vix_file else None
        return cls(
            index_folder(folder),
            instruments=get_instruments(),
            vix=vix,
            max_age=settings.replay_max_age,
        )

    # -- the provider interface ----------------------------------------------------------------

    def underlyings(self, as_of: datetime) -> list[UnderlyingListing]:
        listings = []
        for name in sorted(self._files):
            try:
                snapshot = self._snapshot(name, as_of)
            except NotFound:
                continue
            spec = self._instruments[name]
            listings.append(
                UnderlyingListing(
                    name=name,
                    spot=snapshot.last,
                    strike_step=spec.strike_step,
                    expiries=tuple(
                        ExpiryListing(e, self._lot_size(snapshot, e)) for e in snapshot.expiries
                    ),
                    as_of=snapshot.taken_at,
                )
            )
        return listings

    def chain(self, underlying: str, expiry: date | None, as_of: datetime) -> Chain:
        item = self._snapshot_file(underlying, as_of)
        snapshot = self._parse(item)
        listed = snapshot.expiries
        if expiry is None:
            expiry = nearest_live_expiry(listed, snapshot.taken_at)
        elif expiry not in snapshot.chains:
            raise unknown_expiry(underlying, expiry, listed)
        return self._chain(item, expiry)

    def _build_chain(self, item: SnapshotFile, expiry: date) -> Chain:
        """The Chain of one expiry of a snapshot file. Cached (`self._chain`), so the same object
        is handed out for the same snapshot and expiry and the pricer's cache of its Greeks
        applies."""
        snapshot = self._parse(item)
        underlying = snapshot.underlying
        rows = snapshot.chains[expiry]
        settled = snapshot.taken_at >= expiry_close(expiry) and snapshot.official_close is not None
        return Chain(
            underlying=underlying,
            expiry=expiry,
            as_of=snapshot.taken_at,
            spot=snapshot.official_close if settled and snapshot.official_close else snapshot.last,
            lot_size=self._lot_size(snapshot, expiry),
            vix=self._vix.at(snapshot.taken_at) if self._vix else None,
            pcr=put_call_ratio(rows),
            rows=rows,
            spot_source="settlement" if settled else "last",
        )

    def context(self, underlying: str, as_of: datetime) -> MarketSnapshot:
        snapshot = self._snapshot(underlying, as_of)
        expiry = nearest_live_expiry(snapshot.expiries, snapshot.taken_at)
        return MarketSnapshot(
            underlying=underlying,
            spot=snapshot.last,
            vix=self._vix.at(snapshot.taken_at) if self._vix else None,
            pcr=put_call_ratio(snapshot.chains[expiry]),
            expiry=expiry,
            as_of=snapshot.taken_at,
        )

    def settlement(self, underlying: str, expiry: date, as_of: datetime) -> Chain:
        """The first snapshot from 15:30 IST on the expiry day that still lists the expiry: its
        chain's spot is `records.index.last`, NSE's official close (see `_build_chain`)."""
        close = expiry_close(expiry)
        if as_of < close:
            raise not_settled(underlying, expiry, as_of, "it settles at 15:30 IST on its expiry")
        files = self._files.get(underlying)
        if files is None:
            raise unknown_underlying(underlying, self._files)
        start = bisect.bisect_left(files, close, key=lambda f: f.taken_at)
        for item in files[start:]:
            if item.taken_at > as_of or item.taken_at.astimezone(IST).date() != expiry:
                break
            if expiry in self._parse(item).chains:
                return self._chain(item, expiry)
        raise not_settled(
            underlying, expiry, as_of, "the replay has no snapshot from the close of that day"
        )

    def instants(self, underlying: str, start: datetime, end: datetime) -> Sequence[datetime]:
        """The NSE times of the snapshots from `start` to `end` (inclusive), ascending: the
        observations a backtest walks."""
        if underlying not in self._files:
            raise unknown_underlying(underlying, self._files)
        return instants_between(self._taken_at[underlying], start, end)

    def ready(self) -> None:
        """Readiness: the newest snapshot of every underlying still parses."""
        for files in self._files.values():
            self._parse(files[-1])

    # -- internals -------------------------------------------------------------------------------

    def _lot_size(self, snapshot: Snapshot, expiry: date) -> int:
        """The table's lot for `expiry`, unless the file's order quantities contradict it.

        Every order quantity is a multiple of the lot, so the gcd of a file's quantities is one
        too. When it is not a multiple of the table's lot, the table is out of date for this
        contract at this date (NSE revised long-dated NIFTY lots after Dec-2025): the data wins.
        """
        table = self._instruments[snapshot.underlying].lot_size_for(expiry)
        seen = snapshot.quantity_gcd.get(expiry, 0)
        if seen == 0 or seen % table == 0:
            return table
        if (snapshot.underlying, expiry) not in self._lot_warnings:
            self._lot_warnings.add((snapshot.underlying, expiry))
            log.warning("%s %s: order quantities are multiples of %d, not of the table's lot %d; "
                        "using %d", snapshot.underlying, expiry, seen, table, seen)  # fmt: skip
        return seen

    def _snapshot(self, underlying: str, as_of: datetime) -> Snapshot:
        return self._parse(self._snapshot_file(underlying, as_of))

    def _snapshot_file(self, underlying: str, as_of: datetime) -> SnapshotFile:
        files = self._files.get(underlying)
        if files is None:
            raise unknown_underlying(underlying, self._files)
        served = serving_snapshot(self._taken_at[underlying], as_of, self._max_age)
        if isinstance(served, Gap):
            raise self._no_snapshot(underlying, as_of, served)
        return files[served]

    def _no_snapshot(self, underlying: str, as_of: datetime, gap: Gap) -> NoData:
        """404 no_data: why nothing serves `as_of`, and the next instant that has data."""
        files = self._files[underlying]
        first, last = files[0].taken_at.astimezone(IST), files[-1].taken_at.astimezone(IST)
        after = (
            f"the next snapshot is {gap.next_at.astimezone(IST).isoformat()}"
            if gap.next_at is not None
            else "no snapshot follows it"
        )
        error = NoData(
            f"no {underlying} snapshot serves {as_of.astimezone(IST).isoformat()}: {gap.reason}; "
            f"{after} (the replay holds {len(files)} snapshots from {first.isoformat()} to "
            f"{last.isoformat()})"
        )
        error.extra["next_as_of"] = gap.next_at.astimezone(IST).isoformat() if gap.next_at else None
        return error

    def _parse_file(self, item: SnapshotFile) -> Snapshot:
        """Parse one file (cached as `self._parse`: the last few files stay in memory)."""
        if item.path.suffix.lower() == ".csv":
            _, expiry, _ = legacy_csv_name(item.path)
            lot = self._instruments[item.underlying].lot_size_for(expiry)
            return parse_legacy_csv(item.path, item.underlying, lot)
        return parse_snapshot(item.path, item.underlying)
