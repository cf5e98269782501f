"""snapshot provenance (provider, instance, upstream time) and the broker's IV/Greeks

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 15:10:00

Existing rows keep null in every new column: before this revision no stored column shows which
market-data provider served a snapshot (the quote named it, the row did not), and nulls say
"unknown" rather than guess.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import optrade.db.types

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE_PREFIXES = {"position": ("entry_",), "trade": ("entry_", "exit_")}


def _columns(prefix: str) -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column(f"{prefix}provider", sa.String(length=16), nullable=True),
        sa.Column(f"{prefix}instance", sa.String(length=16), nullable=True),
        sa.Column(
            f"{prefix}upstream_at", optrade.db.types.UTCDateTime(timezone=True), nullable=True
        ),
        *(
            sa.Column(f"{prefix}broker_{name}", sa.Float(), nullable=True)
            for name in ("iv", "delta", "gamma", "theta", "vega")
        ),
    ]


def upgrade() -> None:
    for table, prefixes in TABLE_PREFIXES.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for prefix in prefixes:
                for column in _columns(prefix):
                    batch_op.add_column(column)


def downgrade() -> None:
    for table, prefixes in TABLE_PREFIXES.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for prefix in prefixes:
                for column in _columns(prefix):
                    batch_op.drop_column(column.name)
