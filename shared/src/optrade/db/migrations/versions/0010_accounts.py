"""paper accounts: the account table, an account on every order, position and trade, the
position's mark to market and what its fill tied up, the trade's margin labels, daily equity

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08 07:00:00

Every existing order, position and trade belongs to the account `default`. Existing positions
have no mark (the engine marks them at its next tick), no margin at entry and no entry charges
left open (their charges are booked on their trades, as before); existing trades have no margin
label.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY = sa.Numeric(precision=14, scale=2)
TIME = sa.DateTime(timezone=True)
POSITION_COLUMNS = (
    ("mark_price", MONEY),
    ("marked_at", TIME),
    ("mark_iv", sa.Float()),
    ("mark_spot", MONEY),
    ("mark_forward", sa.Float()),
    ("mark_delta", sa.Float()),
    ("mark_gamma", sa.Float()),
    ("mark_theta", sa.Float()),
    ("mark_vega", sa.Float()),
    ("margin_at_entry", MONEY),
    ("open_entry_charges", MONEY),
)
TRADE_COLUMNS = (("margin_blocked", MONEY), ("return_on_margin", sa.Float()))


def _account_column() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("account", sa.String(length=32), server_default="default", nullable=False)


def upgrade() -> None:
    op.create_table(
        "account",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("capital", MONEY, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_account")),
    )
    op.create_table(
        "account_equity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("taken_at", TIME, nullable=False),
        sa.Column("capital", MONEY, nullable=False),
        sa.Column("cash", MONEY, nullable=False),
        sa.Column("used_margin", MONEY, nullable=False),
        sa.Column("available", MONEY, nullable=False),
        sa.Column("realized", sa.Numeric(precision=16, scale=2), nullable=False),
        sa.Column("unrealized", sa.Numeric(precision=16, scale=2), nullable=False),
        sa.Column("charges", MONEY, nullable=False),
        sa.Column("equity", sa.Numeric(precision=16, scale=2), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_equity")),
        sa.UniqueConstraint("account", "day", name=op.f("uq_account_equity_account_day")),
    )
    for table in ("order", "position", "trade"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(_account_column())
            batch_op.create_index(op.f(f"ix_{table}_account"), ["account"], unique=False)
    with op.batch_alter_table("position", schema=None) as batch_op:
        for name, type_ in POSITION_COLUMNS:
            batch_op.add_column(sa.Column(name, type_, nullable=True))
    with op.batch_alter_table("trade", schema=None) as batch_op:
        for name, type_ in TRADE_COLUMNS:
            batch_op.add_column(sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("trade", schema=None) as batch_op:
        for name, _ in TRADE_COLUMNS:
            batch_op.drop_column(name)
    with op.batch_alter_table("position", schema=None) as batch_op:
        for name, _ in POSITION_COLUMNS:
            batch_op.drop_column(name)
    for table in ("trade", "position", "order"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(op.f(f"ix_{table}_account"))
            batch_op.drop_column("account")
    op.drop_table("account_equity")
    op.drop_table("account")
