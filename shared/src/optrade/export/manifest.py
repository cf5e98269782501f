"""The export's manifest: every column with its role, type and unit, so a training job can tell
features from labels without guessing.

Roles:
- `id`: `id`, `position_id`;
- `feature`: every `feature_*` column (the model's own inputs);
- `entry_snapshot`: what the market looked like at entry: every `entry_<snapshot field>`, and the
  entry price and spread; known when the model decided, so usable as features;
- `exit_snapshot`: every `exit_<snapshot field>`, the exit spread and the `d_*` changes (they
  look at the exit): never a feature;
- `label`: the outcome: `exit_price`, `pnl`, `return`, `net_pnl`, `margin_blocked` and
  `return_on_margin` (what the lots tied up, and net P&L over it: docs/accounts.md);
- `attribution`: `attr_*`, the Greek P&L attribution (derived from the outcome);
- `group`: `strategy_id` and `strategy`: the legs of one strategy are one decision (score them
  together, and keep them in one fold when splitting);
- `metadata`: everything else (identity, times, sources, charges, mode, the signal's metadata).

`features` in the manifest are exactly the `feature` and `entry_snapshot` columns.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from optrade.attribution import ATTRIBUTION_COLUMNS
from optrade.domain import SNAPSHOT_FIELD_NAMES
from optrade.export.features import FEATURE_PREFIX
from optrade.export.trades import DIFF_FIELDS, GROUP_COLUMNS, ExportPlan

LABEL_COLUMNS = ("exit_price", "pnl", "return", "net_pnl", "margin_blocked", "return_on_margin")
ID_COLUMNS = ("id", "position_id")
FEATURE_ROLES = ("feature", "entry_snapshot")

_SNAPSHOT_UNITS = {
    "delta": "per index point", "gamma": "per index point²", "theta": "rupees of premium per "
    "calendar day", "vega": "rupees of premium per vol point", "iv": "percent",
    "ltp": "rupees", "bid": "rupees", "ask": "rupees", "oi": "contracts", "volume": "contracts",
    "spot": "index points", "vix": "index points", "pcr": "ratio", "market_at": "UTC",
    "captured_at": "UTC",
}  # fmt: skip
_UNITS = {
    "strike": "index points", "lots": "lots", "lot_size": "units per lot",
    "entry_price": "rupees", "exit_price": "rupees", "entry_spread": "rupees",
    "exit_spread": "rupees", "pnl": "rupees", "charges": "rupees", "net_pnl": "rupees",
    "return": "fraction of premium (0.1 = 10%)", "opened_at": "UTC", "closed_at": "UTC",
    "holding_seconds": "seconds of market (session) time", "ml_score": "0..1",
    **{f"{p}_{n}": u for p in ("entry", "exit") for n, u in _SNAPSHOT_UNITS.items()},
    **{f"d_{n}": _SNAPSHOT_UNITS[n] for n in DIFF_FIELDS},
    **{name: "rupees" for name in ATTRIBUTION_COLUMNS},
}  # fmt: skip


class ManifestColumn(BaseModel):
    name: str
    role: str = Field(
        description="id | feature | entry_snapshot | exit_snapshot | label | attribution | group "
        "| metadata"
    )
    type: str = Field(description="Arrow type of the column (CSV: its text form)")
    unit: str | None = None


class ManifestCollision(BaseModel):
    """Key paths of `features_snapshot` that flatten to one name; each became its own column."""

    column: str = Field(description="the name they would all have had")
    key_paths: list[list[str]]
    columns: list[str] = Field(description="the columns they were written to instead")


class ExportManifest(BaseModel):
    columns: list[ManifestColumn]
    features: list[str] = Field(description="the `feature` and `entry_snapshot` columns")
    labels: list[str]
    collisions: list[ManifestCollision]
    csv_escape: str = Field(
        default="text cells beginning with =, +, -, @, tab or CR are prefixed with ' (formula "
        "injection); number columns are never escaped"
    )


def role_of(name: str) -> str:
    """The role of an export column, from its name."""
    if name in ID_COLUMNS:
        return "id"
    if name in GROUP_COLUMNS:
        return "group"
    if name in LABEL_COLUMNS:
        return "label"
    if name.startswith(FEATURE_PREFIX):
        return "feature"
    if name in ATTRIBUTION_COLUMNS:
        return "attribution"
    snapshot = {f"{prefix}{n}" for prefix in ("entry_", "exit_") for n in SNAPSHOT_FIELD_NAMES}
    if name in snapshot or name in ("entry_price", "entry_spread", "exit_spread"):
        return name.split("_", 1)[0] + "_snapshot"
    if name.startswith("d_"):
        return "exit_snapshot"
    return "metadata"


def _unit(name: str, role: str) -> str | None:
    return None if role == "feature" else _UNITS.get(name)


def export_manifest(plan: ExportPlan) -> ExportManifest:
    """The manifest of the export `plan` describes, column for column, in order."""
    columns = [
        ManifestColumn(name=f.name, role=role_of(f.name), type=str(f.type), unit=None)
        for f in plan.schema
    ]
    for column in columns:
        column.unit = _unit(column.name, column.role)
    return ExportManifest(
        columns=columns,
        features=[c.name for c in columns if c.role in FEATURE_ROLES],
        labels=[c.name for c in columns if c.role == "label"],
        collisions=[
            ManifestCollision(
                column=c.column, key_paths=[list(k) for k in c.key_paths], columns=list(c.columns)
            )
            for c in plan.collisions
        ],
    )


def parquet_metadata(plan: ExportPlan) -> dict[bytes, bytes]:
    """The manifest as Parquet key-value metadata (key `optrade.manifest`), kept with the file."""
    return {b"optrade.manifest": export_manifest(plan).model_dump_json().encode()}
