"""snapshot market_at_source: where a snapshot's market time comes from

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 15:55:00

`data` (a replayed file, the simulated clock), `upstream` (the live provider's own timestamp) or
`received` (the upstream sent none: our receive time). Existing rows keep null: which provider
served them, and so where their time came from, was never stored.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE_PREFIXES = {"position": ("entry_",), "trade": ("entry_", "exit_")}


def upgrade() -> None:
    for table, prefixes in TABLE_PREFIXES.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for prefix in prefixes:
                batch_op.add_column(
                    sa.Column(f"{prefix}market_at_source", sa.String(length=16), nullable=True)
                )


def downgrade() -> None:
    for table, prefixes in TABLE_PREFIXES.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for prefix in prefixes:
                batch_op.drop_column(f"{prefix}market_at_source")
