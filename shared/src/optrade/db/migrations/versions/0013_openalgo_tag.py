"""the client's tag on orders and positions (OpenAlgo's `strategy`)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 08:00:00

An order placed through the OpenAlgo surface carries OpenAlgo's free-text `strategy`; it is kept
as `tag` on the order and on the position the order opens, so the books can be filtered by it and
a SELL nets only the holding of the same tag. Existing rows have no tag.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("order", "position"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("tag", sa.String(length=64), nullable=True))
            batch_op.create_index(batch_op.f(f"ix_{table}_tag"), ["tag"], unique=False)


def downgrade() -> None:
    for table in ("position", "order"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f"ix_{table}_tag"))
            batch_op.drop_column("tag")
