"""honest labels: mode, off_hours, charges, net_pnl, market_seconds_held

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 14:55:00

Existing positions and trades become `live`, `off_hours` false; their charges, net P&L and market
time held stay null (unknown: they were never computed).
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _provenance(batch_op: Any) -> None:
    batch_op.add_column(
        sa.Column("mode", sa.String(length=8), server_default="live", nullable=False)
    )
    batch_op.add_column(
        sa.Column("off_hours", sa.Boolean(), server_default=sa.false(), nullable=False)
    )


def upgrade() -> None:
    with op.batch_alter_table("position", schema=None) as batch_op:
        _provenance(batch_op)
        batch_op.create_index(batch_op.f("ix_position_mode"), ["mode"], unique=False)
    with op.batch_alter_table("trade", schema=None) as batch_op:
        _provenance(batch_op)
        batch_op.add_column(sa.Column("charges", sa.Numeric(precision=14, scale=2), nullable=True))
        batch_op.add_column(sa.Column("net_pnl", sa.Numeric(precision=16, scale=2), nullable=True))
        batch_op.add_column(sa.Column("market_seconds_held", sa.Float(), nullable=True))
        batch_op.create_index(batch_op.f("ix_trade_mode"), ["mode"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("trade", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trade_mode"))
        for column in ("market_seconds_held", "net_pnl", "charges", "off_hours", "mode"):
            batch_op.drop_column(column)
    with op.batch_alter_table("position", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_position_mode"))
        batch_op.drop_column("off_hours")
        batch_op.drop_column("mode")
