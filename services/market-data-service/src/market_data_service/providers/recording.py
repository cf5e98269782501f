"""The recorder of live chains and the `recorded` provider that replays them.

Layout: `<dir>/<provider>/<UNDERLYING>/<trading day, IST>/<UNDERLYING>_<expiry>_<instance>.jsonl.gz`
- one file per provider, underlying, expiry and trading day (and instance, so a primary and a
  fallback on the same upstream never write one file). Each served chain is one JSON line holding
  the normalised chain (prices in rupees, OI and volume in contracts, the broker's IV/Greeks),
  its market time, receive time, provider and instance.
- Each append is its own gzip member: a file is valid after every append (a reader, or a crash,
  sees whole snapshots only) and concatenated members are one gzip stream to any reader
  (`zcat` works). Parquet would need the file rewritten, or left unreadable until closed.
- The `recorded` provider serves, like `nse-replay`, the snapshot at or before `as_of` (up to
  `RECORDING_LOOKBACK_DAYS` trading-calendar days back); before any: 404 `no_data`.
"""

from __future__ import annotations

import gzip
import json
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from market_data_service.providers.base import (
    BrokerGreeks,
    Chain,
    ExpiryListing,
    Leg,
    MarketSnapshot,
    StrikeRow,
    UnderlyingListing,
    nearest_live_expiry,
    unknown_expiry,
)
from market_data_service.providers.live.errors import NoData
from optrade.calendar import IST
from optrade.instruments import InstrumentSpec

log = logging.getLogger(__name__)

SUFFIX = ".jsonl.gz"
LOOKBACK_DAYS = 10
_LEG_FIELDS = ("ltp", "bid", "ask", "oi", "volume")
_BROKER_FIELDS = ("iv", "delta", "gamma", "theta", "vega")


def trading_day(instant: datetime) -> date:
    return instant.astimezone(IST).date()


def recording_path(root: Path, provider: str, instance: str, chain: Chain) -> Path:
    day = trading_day(chain.as_of).isoformat()
    name = f"{chain.underlying}_{chain.expiry.isoformat()}_{instance}{SUFFIX}"
    return root / provider / chain.underlying / day / name


def _leg_json(leg: Leg | None) -> list[Any] | None:
    if leg is None:
        return None
    broker = leg.broker
    values: list[Any] = [getattr(leg, name) for name in _LEG_FIELDS]
    values += [getattr(broker, n) if broker else None for n in _BROKER_FIELDS]
    return [*values, leg.units_warning]


def _leg_from(raw: list[Any] | None) -> Leg | None:
    if raw is None:
        return None
    ltp, bid, ask, oi, volume, iv, delta, gamma, theta, vega, warning = raw
    has_broker = any(v is not None for v in (iv, delta, gamma, theta, vega))
    broker = BrokerGreeks(iv, delta, gamma, theta, vega) if has_broker else None
    return Leg(ltp, bid, ask, oi, volume, broker=broker, units_warning=warning)


def chain_record(chain: Chain, *, provider: str, instance: str, received_at: datetime) -> str:
    """One JSON line for `chain`."""
    return json.dumps(
        {
            "provider": provider, "instance": instance, "underlying": chain.underlying,
            "expiry": chain.expiry.isoformat(), "as_of": chain.as_of.isoformat(),
            "as_of_source": chain.as_of_source, "received_at": received_at.isoformat(),
            "upstream_at": chain.upstream_at.isoformat() if chain.upstream_at else None,
            "spot": chain.spot, "lot_size": chain.lot_size, "vix": chain.vix, "pcr": chain.pcr,
            "rows": [[r.strike, _leg_json(r.ce), _leg_json(r.pe)] for r in chain.rows],
        },
        separators=(",", ":"),
    )  # fmt: skip


def chain_from_record(raw: dict[str, Any]) -> Chain:
    upstream_at = raw.get("upstream_at")
    return Chain(
        underlying=raw["underlying"],
        expiry=date.fromisoformat(raw["expiry"]),
        as_of=datetime.fromisoformat(raw["as_of"]).astimezone(UTC),
        spot=float(raw["spot"]),
        lot_size=int(raw["lot_size"]),
        vix=raw.get("vix"),
        pcr=raw.get("pcr"),
        rows=tuple(StrikeRow(float(k), _leg_from(ce), _leg_from(pe)) for k, ce, pe in raw["rows"]),
        as_of_source=raw.get("as_of_source", "received"),
        upstream_at=datetime.fromisoformat(upstream_at) if upstream_at else None,
    )


class Recorder:
    """Appends every chain a live provider serves to its day's file."""

    def __init__(self, root: Path, *, provider: str, instance: str) -> None:
        self.root = root
        self.provider = provider
        self.instance = instance
        self._lock = threading.Lock()

    def append(self, chain: Chain, received_at: datetime) -> Path:
        """Append one snapshot (a whole gzip member) to the chain's file."""
        path = recording_path(self.root, self.provider, self.instance, chain)
        line = chain_record(chain, provider=self.provider, instance=self.instance,
                            received_at=received_at) + "\n"  # fmt: skip
        payload = gzip.compress(line.encode(), compresslevel=6)
        with self._lock:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("ab") as handle:
                handle.write(payload)
        return path


@dataclass(frozen=True, slots=True)
class RecordingFile:
    provider: str
    underlying: str
    day: date
    expiry: date
    path: Path


def _parse_name(path: Path) -> RecordingFile | None:
    try:
        underlying, expiry, _instance = path.name[: -len(SUFFIX)].split("_", 2)
        return RecordingFile(
            provider=path.parents[2].name,
            underlying=underlying,
            day=date.fromisoformat(path.parent.name),
            expiry=date.fromisoformat(expiry),
            path=path,
        )
    except (ValueError, IndexError):
        return None


class RecordingStore:
    """Reads recordings: the snapshot at or before an instant (one provider's, or any)."""

    def __init__(self, root: Path, *, provider: str | None = None) -> None:
        self.root = root
        self.provider = provider
        self._parsed: dict[Path, tuple[tuple[int, int], list[Chain]]] = {}
        self._lock = threading.Lock()

    def files(self, underlying: str, day: date) -> list[RecordingFile]:
        providers = [self.provider] if self.provider else ["*"]
        found = []
        for provider in providers:
            pattern = f"{provider}/{underlying}/{day.isoformat()}/*{SUFFIX}"
            found += [f for p in self.root.glob(pattern) if (f := _parse_name(p))]
        return found

    def underlyings(self) -> list[str]:
        pattern = f"{self.provider or '*'}/*"
        return sorted({p.name for p in self.root.glob(pattern) if p.is_dir()})

    def load(self, path: Path) -> list[Chain]:
        """Every snapshot in one file, by market time; re-read when the file has grown."""
        stat = path.stat()
        version = (stat.st_size, stat.st_mtime_ns)
        with self._lock:
            cached = self._parsed.get(path)
            if cached is not None and cached[0] == version:
                return cached[1]
        chains = []
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    chains.append(chain_from_record(json.loads(line)))
        chains.sort(key=lambda c: c.as_of)
        with self._lock:
            self._parsed[path] = (version, chains)
        return chains

    def latest(self, files: Iterable[RecordingFile], as_of: datetime) -> Chain | None:
        """The newest snapshot at or before `as_of` in `files`."""
        best: Chain | None = None
        for item in files:
            for chain in reversed(self.load(item.path)):
                if chain.as_of <= as_of:
                    if best is None or chain.as_of > best.as_of:
                        best = chain
                    break
        return best

    def at(self, underlying: str, expiry: date | None, as_of: datetime) -> Chain | None:
        """The snapshot of `expiry` (nearest live when None) at or before `as_of`."""
        day = trading_day(as_of)
        for back in range(LOOKBACK_DAYS + 1):
            files = self.files(underlying, day - timedelta(days=back))
            if not files:
                continue
            newest = self.latest(files, as_of)
            if newest is None:
                continue
            listed = sorted({f.expiry for f in files})
            if expiry is None:
                wanted = nearest_live_expiry(listed, newest.as_of)
            elif expiry in listed:
                wanted = expiry
            else:
                raise unknown_expiry(underlying, expiry, listed)
            found = self.latest([f for f in files if f.expiry == wanted], as_of)
            if found is not None:
                return found
        return None


def no_history(provider: str, underlying: str, as_of: datetime) -> NoData:
    return NoData(
        f"no recorded history for {provider} at {as_of.astimezone(IST).isoformat()} ({underlying})"
    )


class RecordedProvider:
    """Replays recordings of live providers: the snapshot at or before `as_of`."""

    name = "recorded"

    def __init__(
        self, store: RecordingStore, instruments: dict[str, InstrumentSpec], *, label: str
    ) -> None:
        self.store = store
        self._instruments = instruments
        self._label = label  # which recordings, for messages ("openalgo", "any provider")

    def chain(self, underlying: str, expiry: date | None, as_of: datetime) -> Chain:
        found = self.store.at(underlying, expiry, as_of)
        if found is None:
            raise no_history(self._label, underlying, as_of)
        return found

    def context(self, underlying: str, as_of: datetime) -> MarketSnapshot:
        chain = self.chain(underlying, None, as_of)
        return MarketSnapshot(underlying, chain.spot, chain.vix, chain.pcr, chain.expiry,
                              chain.as_of)  # fmt: skip

    def underlyings(self, as_of: datetime) -> list[UnderlyingListing]:
        listings = []
        for name in self.store.underlyings():
            chain = self.store.at(name, None, as_of)
            spec = self._instruments.get(name)
            if chain is None or spec is None:
                continue
            day_files = self.store.files(name, trading_day(chain.as_of))
            expiries = sorted({f.expiry for f in day_files})
            listings.append(UnderlyingListing(
                name=name, spot=chain.spot, strike_step=spec.strike_step,
                expiries=tuple(ExpiryListing(e, spec.lot_size_for(e)) for e in expiries),
                as_of=chain.as_of,
            ))  # fmt: skip
        return listings

    def ready(self) -> None:
        if not self.store.root.is_dir():
            raise RuntimeError(f"recordings folder {self.store.root} does not exist")
