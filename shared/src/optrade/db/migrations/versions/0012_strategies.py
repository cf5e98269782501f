"""strategies: several legs placed, margined, exited and scored as one

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 08:00:00

A `strategy` row holds the structure (name, underlying, expiry, the legs as placed, net premium,
margin, status, its exits on the mark-to-market P&L and its idempotency key); `strategy_id` on
`order`, `position` and `trade` ties every leg to it (a trade carries it from its position).
Existing rows are single orders: their `strategy_id` is null.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
# 0010 (accounts) is merged before this one; chained to it on main.
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY = sa.Numeric(precision=16, scale=2)
WHEN = sa.DateTime(timezone=True)
LEG_TABLES = ("order", "position", "trade")


def _strategy_table() -> None:
    op.create_table(
        "strategy",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("underlying", sa.String(length=20), nullable=False),
        sa.Column("expiry", sa.Date(), nullable=False),
        sa.Column(
            "legs",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("net_premium", MONEY, nullable=False),
        sa.Column("margin", MONEY, nullable=True),
        sa.Column("account", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("product", sa.String(length=4), server_default="NRML", nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("stop_loss_pnl", MONEY, nullable=True),
        sa.Column("target_pnl", MONEY, nullable=True),
        sa.Column("exit_at", WHEN, nullable=True),
        sa.Column("square_off_at", WHEN, nullable=True),
        sa.Column("exit_reason", sa.String(length=16), nullable=True),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("request_fingerprint", sa.String(length=64), nullable=True),
        sa.Column("opened_at", WHEN, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("closed_at", WHEN, nullable=True),
        sa.Column("exits_evaluated_at", WHEN, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_strategy")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_strategy_idempotency_key")),
    )
    for column in ("name", "status", "created_at"):
        op.create_index(op.f(f"ix_strategy_{column}"), "strategy", [column], unique=False)


def upgrade() -> None:
    _strategy_table()
    for table in LEG_TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("strategy_id", sa.Integer(), nullable=True))
            batch_op.create_index(
                batch_op.f(f"ix_{table}_strategy_id"), ["strategy_id"], unique=False
            )


def downgrade() -> None:
    for table in reversed(LEG_TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f"ix_{table}_strategy_id"))
            batch_op.drop_column("strategy_id")
    for column in ("created_at", "status", "name"):
        op.drop_index(op.f(f"ix_strategy_{column}"), table_name="strategy")
    op.drop_table("strategy")
