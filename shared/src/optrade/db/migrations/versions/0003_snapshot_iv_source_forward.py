"""snapshot iv_source, forward, rate, t_years: what a record needs to re-price its IV

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 15:10:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# name -> SQL type; a position holds the entry snapshot, a trade both. Existing rows get NULL
# (not recorded before this revision).
_PREFIXES = {"position": ("entry_",), "trade": ("entry_", "exit_")}
_FIELDS: dict[str, Any] = {
    "iv_source": sa.String(length=8),
    "forward": sa.Float(),
    "rate": sa.Float(),
    "t_years": sa.Float(),
}


def upgrade() -> None:
    for table, prefixes in _PREFIXES.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for prefix in prefixes:
                for name, sql_type in _FIELDS.items():
                    batch_op.add_column(sa.Column(prefix + name, sql_type, nullable=True))


def downgrade() -> None:
    for table, prefixes in _PREFIXES.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for prefix in prefixes:
                for name in _FIELDS:
                    batch_op.drop_column(prefix + name)
