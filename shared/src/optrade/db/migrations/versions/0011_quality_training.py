"""quality training: the end-of-day training command's outcome on its quality run

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 07:00:00

A nullable JSON column: NULL until the quality worker has claimed the run for training, then the
command's status, exit code, duration and output tail. Existing runs were never trained: NULL.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("quality_run", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "training",
                sa.JSON(none_as_null=True).with_variant(
                    postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
                ),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("quality_run", schema=None) as batch_op:
        batch_op.drop_column("training")
