"""India VIX daily closes from NSE's historical download (`Date ,Open ,High ,Low ,Close ,...`).

Convention: the VIX at an instant is the latest close already published at that instant, i.e. the
close of the same trading day from 15:30 IST on, otherwise the previous trading day's close. No
look-ahead: a morning snapshot never sees that evening's close. A close older than
`MAX_AGE_DAYS` calendar days counts as no data (the file ended), so VIX is null rather than stale.
"""

from __future__ import annotations

import bisect
import csv
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from optrade.domain import IST, MARKET_CLOSE

MAX_AGE_DAYS = 7


@dataclass(frozen=True)
class IndiaVixHistory:
    published_at: tuple[datetime, ...]  # 15:30 IST of each row's date, ascending
    closes: tuple[float, ...]

    @classmethod
    def load(cls, path: Path) -> IndiaVixHistory:
        """Read NSE's CSV (header names carry a trailing space; dates like 02-DEC-2025)."""
        rows: dict[datetime, float] = {}
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            for raw in reader:
                record = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
                if not record.get("date") or not record.get("close"):
                    continue
                day = datetime.strptime(record["date"].title(), "%d-%b-%Y").date()
                rows[datetime.combine(day, MARKET_CLOSE, tzinfo=IST)] = float(record["close"])
        if not rows:
            raise ValueError(f"no India VIX rows in {path}")
        ordered = sorted(rows)
        return cls(tuple(ordered), tuple(rows[t] for t in ordered))

    def at(self, moment: datetime) -> float | None:
        """The latest close published at or before `moment`; None before the file or when stale."""
        i = bisect.bisect_right(self.published_at, moment) - 1
        if i < 0 or moment - self.published_at[i] > timedelta(days=MAX_AGE_DAYS):
            return None
        return self.closes[i]
