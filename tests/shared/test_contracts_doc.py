"""docs/contracts.md shows the contract, session and rate tables the code reads, row for row."""

from __future__ import annotations

import json
import re
from pathlib import Path

from optrade.calendar import CORRECTIONS_FILE
from optrade.instruments import get_instruments
from optrade.rates import rate_table

DOC = Path(__file__).resolve().parents[2] / "docs" / "contracts.md"


def _rows(heading: str) -> list[list[str]]:
    """The cells of every row of the table under `heading` (header and rule excluded)."""
    section = DOC.read_text().split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines[1:]]


def test_every_lot_size_row_is_documented_with_its_source() -> None:
    documented = [row[:4] for row in _rows("Lot sizes")]
    bundled = [
        [
            name,
            str(e.lot_size),
            e.from_expiry.isoformat(),
            e.first_expiry(monthly=False).isoformat(),
        ]
        for name, spec in get_instruments().items()
        for e in spec.lot_sizes
    ]
    assert documented == bundled
    assert all(e.source for spec in get_instruments().values() for e in spec.lot_sizes)


def test_every_special_session_is_documented_with_its_hours() -> None:
    documented = [row[:3] for row in _rows("Sessions")]
    bundled = [
        [r["date"], r["kind"], f"{r['open']}–{r['close']}" if r["open"] else "not sourced"]
        for r in json.loads(CORRECTIONS_FILE.read_text())["special_sessions"]
    ]
    assert documented == bundled


def test_every_rate_row_is_documented_with_its_continuous_rate() -> None:
    documented = [row[:3] for row in _rows("Risk-free rate")]
    bundled = [
        [r.auction.isoformat(), str(r.cutoff_yield_percent), f"{r.continuous:.6f}"]
        for r in rate_table().rows
    ]
    assert documented == bundled
    assert all(re.match(r"\d\.\d{6}$", row[2]) for row in documented)
