"""trade.exit_price_source wide enough for `settlement`

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Settled trades record exit_price_source `settlement` (10 characters; the column held 8).
    with op.batch_alter_table("trade", schema=None) as batch_op:
        batch_op.alter_column(
            "exit_price_source",
            existing_type=sa.String(length=8),
            type_=sa.String(length=16),
            existing_nullable=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("trade", schema=None) as batch_op:
        batch_op.alter_column(
            "exit_price_source",
            existing_type=sa.String(length=16),
            type_=sa.String(length=8),
            existing_nullable=False,
        )
