"""Replay of recorded NSE option-chain snapshots (`option-chain-indices` JSON, legacy or v3, and
the 2019 HTML-page CSVs).

- A folder of `*.json` files; each is indexed at startup by its `records.timestamp` (IST wall
  clock, `02-Dec-2025 15:13:29`) and underlying, found by a byte scan without parsing the JSON.
  Files are parsed on first use and the last few kept in memory.
- `as_of` is served by the latest snapshot at or before it; before the first one: 404.
- Leg fields: `bidprice`/`askPrice` (legacy) or `buyPrice1`/`sellPrice1` (v3); the row expiry is
  `expiryDate` or `expiryDates` (v3), `DD-Mon-YYYY` or `DD-MM-YYYY`.
- Zeros are data, not errors: IV 0, lastPrice 0, bid 0, ask 0 become null. A leg that is absent
  (or a v3 placeholder with `identifier: null`) becomes `null` on its strike; a strike with
  neither leg is skipped.
- Settlement: at or after 15:30 IST on an expiry date the expiring contract's spot is
  `records.index.last` (NSE's official close, on which index options settle), not the last tick
  `underlyingValue`; without an index block the last tick is used.
- Lot size from the instruments table by expiry; VIX from the India VIX file (see india_vix).
- Legacy CSV (`NIFTY_exp2019-09-12_2019-09-09_09-30_IST.csv`, scraped from NSE's old HTML
  option-chain page): one expiry per file, expiry and IST time from the file name, `-` for none,
  spot in `CurrentVal`. Its OI is in units (multiples of the lot), so it is divided by the lot
  size of the expiry to give contracts like the JSON; volume is already in contracts.
"""

from __future__ import annotations

import bisect
import csv
import json
import logging
import math
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from market_data_service.providers.base import (
    Chain,
    ExpiryListing,
    Leg,
    MarketSnapshot,
    StrikeRow,
    UnderlyingListing,
    nearest_live_expiry,
    not_found,
    put_call_ratio,
    unknown_expiry,
    unknown_underlying,
)
from market_data_service.providers.india_vix import IndiaVixHistory
from market_data_service.settings import MarketDataSettings
from optrade.calendar import IST, expiry_close
from optrade.errors import NotFound
from optrade.instruments import InstrumentSpec, get_instruments
from optrade.settings import ConfigurationError

log = logging.getLogger(__name__)

_TIMESTAMP = re.compile(rb'"timestamp"\s*:\s*"([^"]+)"')
_UNDERLYING = re.compile(rb'"underlying"\s*:\s*"([^"]+)"')
_FILE_UNDERLYING = re.compile(r"^([A-Za-z]+)[_-]")
_LEGACY_CSV_NAME = re.compile(
    r"^(?P<underlying>[A-Za-z]+)_exp(?P<expiry>\d{4}-\d{2}-\d{2})_(?P<day>\d{4}-\d{2}-\d{2})_"
    r"(?P<hh>\d{2})-(?P<mm>\d{2})(?:-(?P<ss>\d{2}))?_IST\.csv$",
    re.IGNORECASE,
)
SNAPSHOT_PATTERNS = ("*.json", "*.csv")
PARSED_CACHE_SIZE = 8
CHAIN_CACHE_SIZE = 64


class SnapshotFormatError(ValueError):
    """A file is not an NSE option-chain snapshot this replay understands."""


@dataclass(frozen=True, slots=True)
class SnapshotFile:
    underlying: str
    taken_at: datetime  # UTC
    path: Path


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One parsed file: spot, official close and every expiry's strikes."""

    underlying: str
    taken_at: datetime  # UTC
    last: float  # records.underlyingValue: the last index tick
    official_close: float | None  # records.index.last
    chains: dict[date, tuple[StrikeRow, ...]]  # expiry -> rows by ascending strike
    quantity_gcd: dict[date, int]  # expiry -> gcd of every order quantity (units); 0: none

    @property
    def expiries(self) -> list[date]:
        return sorted(self.chains)


def parse_nse_time(text: str) -> datetime:
    """`02-Dec-2025 15:13:29` (IST wall clock) as an aware UTC instant."""
    return datetime.strptime(text.strip(), "%d-%b-%Y %H:%M:%S").replace(tzinfo=IST).astimezone(UTC)


def parse_nse_date(text: str) -> date:
    for fmt in ("%d-%b-%Y", "%d-%m-%Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(text.strip(), fmt).date()
        except ValueError:
            continue
    raise SnapshotFormatError(f"unrecognised expiry date {text!r}")


def index_file(path: Path) -> SnapshotFile:
    """Underlying and NSE time of one file, from a byte scan (no JSON parse) or, for a legacy
    CSV, from its name."""
    if path.suffix.lower() == ".csv":
        underlying, _, taken_at = legacy_csv_name(path)
        return SnapshotFile(underlying, taken_at, path)
    raw = path.read_bytes()
    stamp = _TIMESTAMP.search(raw)
    if stamp is None:
        raise SnapshotFormatError(f"{path.name}: no records.timestamp")
    found = _UNDERLYING.search(raw)
    by_name = _FILE_UNDERLYING.match(path.name)
    if found is not None:
        underlying = found.group(1).decode()
    elif by_name is not None:
        underlying = by_name.group(1)
    else:
        raise SnapshotFormatError(f"{path.name}: no underlying in the data or the file name")
    return SnapshotFile(underlying.upper(), parse_nse_time(stamp.group(1).decode()), path)


def _first(raw: dict[str, Any], *names: str) -> Any:
    for name in names:
        if name in raw:
            return raw[name]
    return None


def _positive(value: Any) -> float | None:
    """A price or IV: NSE's 0 means none, so 0, negatives and non-numbers become None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) and value > 0 else None


def _count(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


_QUANTITIES = ("bidQty", "askQty", "buyQuantity1", "sellQuantity1", "totalBuyQuantity",
               "totalSellQuantity")  # fmt: skip


def quantity_gcd(raw: Any) -> int:
    """Greatest common divisor of a leg's order quantities (units): a multiple of the lot."""
    result = 0
    if isinstance(raw, dict):
        for name in _QUANTITIES:
            value = raw.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
                result = math.gcd(result, int(value))
    return result


def parse_leg(raw: Any) -> Leg | None:
    """One `CE`/`PE` object; None when absent or a v3 placeholder without a contract."""
    if not isinstance(raw, dict) or ("identifier" in raw and raw["identifier"] is None):
        return None
    volume = _count(raw.get("totalTradedVolume"))
    return Leg(
        ltp=_positive(raw.get("lastPrice")),
        bid=_positive(_first(raw, "bidprice", "bidPrice", "buyPrice1")),
        ask=_positive(_first(raw, "askPrice", "askprice", "sellPrice1")),
        oi=_count(raw.get("openInterest")),
        volume=int(volume) if volume is not None else None,
        nse_iv=_positive(raw.get("impliedVolatility")),
    )


def parse_snapshot(path: Path, underlying: str) -> Snapshot:
    """Parse one file into per-expiry chains (the whole file, once)."""
    body = json.loads(path.read_bytes())
    records = body.get("records") if isinstance(body, dict) else None
    if not isinstance(records, dict) or not isinstance(records.get("data"), list):
        raise SnapshotFormatError(f"{path.name}: no records.data")
    by_expiry: dict[date, dict[float, StrikeRow]] = {}
    gcds: dict[date, int] = {}
    leg_spot: float | None = None
    for raw_row in records["data"]:
        expiry_text = _first(raw_row, "expiryDate", "expiryDates")
        strike = _positive(raw_row.get("strikePrice"))
        if not isinstance(expiry_text, str) or strike is None:
            continue
        ce, pe = parse_leg(raw_row.get("CE")), parse_leg(raw_row.get("PE"))
        if ce is None and pe is None:
            continue
        expiry = parse_nse_date(expiry_text)
        for raw_leg in (raw_row.get("CE"), raw_row.get("PE")):
            gcds[expiry] = math.gcd(gcds.get(expiry, 0), quantity_gcd(raw_leg))
            if leg_spot is None and isinstance(raw_leg, dict):
                leg_spot = _positive(raw_leg.get("underlyingValue"))
        by_expiry.setdefault(expiry, {})[strike] = StrikeRow(strike, ce, pe)
    last = _positive(records.get("underlyingValue")) or leg_spot
    if last is None:
        raise SnapshotFormatError(f"{path.name}: no underlyingValue")
    index = records.get("index")
    official_close = _positive(index.get("last")) if isinstance(index, dict) else None
    return Snapshot(
        underlying=underlying,
        taken_at=parse_nse_time(str(records.get("timestamp", ""))),
        last=last,
        official_close=official_close,
        chains={e: tuple(rows[k] for k in sorted(rows)) for e, rows in by_expiry.items()},
        quantity_gcd=gcds,
    )


def legacy_csv_name(path: Path) -> tuple[str, date, datetime]:
    """Underlying, expiry and NSE time (UTC) from `NIFTY_exp2019-09-12_2019-09-09_09-30_IST.csv`."""
    found = _LEGACY_CSV_NAME.match(path.name)
    if found is None:
        raise SnapshotFormatError(
            f"{path.name}: a CSV snapshot is named <UNDERLYING>_exp<YYYY-MM-DD>_<YYYY-MM-DD>_"
            "<HH-MM>_IST.csv"
        )
    wall = f"{found['day']} {found['hh']}:{found['mm']}:{found['ss'] or '00'}"
    taken_at = datetime.strptime(wall, "%Y-%m-%d %H:%M:%S").replace(tzinfo=IST).astimezone(UTC)
    return found["underlying"].upper(), date.fromisoformat(found["expiry"]), taken_at


def _cell(raw: dict[str, str | None], name: str) -> float | None:
    """A CSV number; `-`, blanks and non-numbers are none."""
    text = (raw.get(name) or "").strip().replace(",", "")
    if text in ("", "-"):
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _legacy_leg(raw: dict[str, str | None], side: str, lot_size: int) -> Leg | None:
    """`Call*` or `Put*` columns of one row; None when the page showed nothing on that side."""
    oi_units = _cell(raw, f"{side}OI")
    volume = _cell(raw, f"{side}Volume")
    leg = Leg(
        ltp=_positive(_cell(raw, f"{side}LTP")),
        bid=_positive(_cell(raw, f"{side}BidPrice")),
        ask=_positive(_cell(raw, f"{side}AskPrice")),
        oi=oi_units / lot_size if oi_units is not None else None,
        volume=int(volume) if volume is not None else None,
        nse_iv=_positive(_cell(raw, f"{side}IV")),
    )
    if all(v is None for v in (leg.ltp, leg.bid, leg.ask, leg.oi, leg.volume)):
        return None
    return leg


def parse_legacy_csv(path: Path, underlying: str, lot_size: int) -> Snapshot:
    """Parse one 2019 HTML-page CSV (one expiry) into a Snapshot."""
    _, expiry, taken_at = legacy_csv_name(path)
    rows: dict[float, StrikeRow] = {}
    spot: float | None = None
    gcd = 0
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or "StrikePrice" not in reader.fieldnames:
            raise SnapshotFormatError(f"{path.name}: no StrikePrice column")
        for raw in reader:
            strike = _positive(_cell(raw, "StrikePrice"))
            if strike is None:
                continue
            spot = spot or _positive(_cell(raw, "CurrentVal"))
            for name in ("CallBidQty", "CallAskQty", "PutBidQty", "PutAskQty"):
                quantity = _cell(raw, name)
                if quantity is not None and quantity > 0:
                    gcd = math.gcd(gcd, int(quantity))
            ce, pe = _legacy_leg(raw, "Call", lot_size), _legacy_leg(raw, "Put", lot_size)
            if ce is not None or pe is not None:
                rows[strike] = StrikeRow(strike, ce, pe)
    if spot is None:
        raise SnapshotFormatError(f"{path.name}: no CurrentVal (spot)")
    if not rows:
        raise SnapshotFormatError(f"{path.name}: no strike with data")
    return Snapshot(
        underlying=underlying,
        taken_at=taken_at,
        last=spot,
        official_close=None,
        chains={expiry: tuple(rows[k] for k in sorted(rows))},
        quantity_gcd={expiry: gcd},
    )


class NseReplayProvider:
    """Serves the snapshot at or before the instant asked for."""

    name = "nse-replay"

    def __init__(
        self,
        files: list[SnapshotFile],
        *,
        instruments: dict[str, InstrumentSpec],
        vix: IndiaVixHistory | None = None,
    ) -> None:
        self._instruments = instruments
        self._vix = vix
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
        self._parsed: OrderedDict[Path, Snapshot] = OrderedDict()
        self._chain = lru_cache(maxsize=CHAIN_CACHE_SIZE)(self._build_chain)
        self._lot_warnings: set[tuple[str, date]] = set()
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: MarketDataSettings) -> NseReplayProvider:
        folder = settings.nse_replay_dir
        if folder is None or not folder.is_dir():
            raise ConfigurationError(
                f"MARKET_DATA_PROVIDER=nse-replay needs NSE_REPLAY_DIR to be a folder; got {folder}"
            )
        files = []
        paths = sorted({p for pattern in SNAPSHOT_PATTERNS for p in folder.glob(pattern)})
        for path in paths:
            try:
                files.append(index_file(path))
            except (OSError, SnapshotFormatError, ValueError) as exc:
                log.warning("skipping %s: %s", path, exc)
        vix = IndiaVixHistory.load(settings.india_vix_file) if settings.india_vix_file else None
        return cls(files, instruments=get_instruments(), vix=vix)

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
        i = bisect.bisect_right(files, as_of, key=lambda f: f.taken_at) - 1
        if i < 0:
            first, last = files[0].taken_at, files[-1].taken_at
            raise not_found(
                "as_of",
                f"no {underlying} snapshot at or before {as_of.astimezone(IST).isoformat()}; "
                f"the replay holds {len(files)} snapshots from {first.astimezone(IST).isoformat()} "
                f"to {last.astimezone(IST).isoformat()}",
            )
        return files[i]

    def _parse(self, item: SnapshotFile) -> Snapshot:
        with self._lock:
            cached = self._parsed.get(item.path)
            if cached is not None:
                self._parsed.move_to_end(item.path)
                return cached
        if item.path.suffix.lower() == ".csv":
            _, expiry, _ = legacy_csv_name(item.path)
            lot = self._instruments[item.underlying].lot_size_for(expiry)
            snapshot = parse_legacy_csv(item.path, item.underlying, lot)
        else:
            snapshot = parse_snapshot(item.path, item.underlying)
        with self._lock:
            self._parsed[item.path] = snapshot
            while len(self._parsed) > PARSED_CACHE_SIZE:
                self._parsed.popitem(last=False)
        return snapshot
