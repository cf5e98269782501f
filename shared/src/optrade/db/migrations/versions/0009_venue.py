"""the venue: order types, products, validity and exits on orders and positions

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 07:30:00

Orders gain what a resting order needs (product, validity, its expiry, the instant it was placed
and last evaluated, the model metadata and exits of the position it will open); positions gain
their product and the exits the engine executes (stop loss, target, trailing stop with its best
LTP, timed exit, MIS square-off). Existing orders and positions are NRML (held to expiry), DAY.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY = sa.Numeric(precision=14, scale=2)
WHEN = sa.DateTime(timezone=True)


def _exits(batch_op: Any) -> None:
    for name in ("stop_loss", "target", "trailing_stop"):
        batch_op.add_column(sa.Column(name, MONEY, nullable=True))
    batch_op.add_column(sa.Column("exit_at", WHEN, nullable=True))


def upgrade() -> None:
    with op.batch_alter_table("order", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("product", sa.String(length=4), server_default="NRML", nullable=False)
        )
        batch_op.add_column(
            sa.Column("validity", sa.String(length=4), server_default="DAY", nullable=False)
        )
        batch_op.add_column(sa.Column("expires_at", WHEN, nullable=True))
        batch_op.add_column(sa.Column("placed_at", WHEN, nullable=True))
        batch_op.add_column(sa.Column("evaluated_at", WHEN, nullable=True))
        batch_op.add_column(sa.Column("ml_score", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("model_version", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("model_hash", sa.String(length=128), nullable=True))
        batch_op.add_column(
            sa.Column(
                "features_snapshot",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )
        _exits(batch_op)
    with op.batch_alter_table("position", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("product", sa.String(length=4), server_default="NRML", nullable=False)
        )
        _exits(batch_op)
        batch_op.add_column(sa.Column("trail_best", MONEY, nullable=True))
        batch_op.add_column(sa.Column("square_off_at", WHEN, nullable=True))
        batch_op.add_column(sa.Column("exits_evaluated_at", WHEN, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("position", schema=None) as batch_op:
        for name in ("exits_evaluated_at", "square_off_at", "trail_best", "exit_at",
                     "trailing_stop", "target", "stop_loss", "product"):  # fmt: skip
            batch_op.drop_column(name)
    with op.batch_alter_table("order", schema=None) as batch_op:
        for name in ("exit_at", "trailing_stop", "target", "stop_loss", "features_snapshot",
                     "model_hash", "model_version", "ml_score", "evaluated_at", "placed_at",
                     "expires_at", "validity", "product"):  # fmt: skip
            batch_op.drop_column(name)
