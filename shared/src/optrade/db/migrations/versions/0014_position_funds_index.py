"""a partial index on the positions an account's funds sum over

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 11:00:00

The funds check sums an account's positions on every fill, under the account's lock: the open
ones, and closed ones with entry charges not moved into a trade. It read every position the
account ever held; this index holds only those (`optrade.db.models.POSITIONS_IN_FUNDS`).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As `optrade.db.models.POSITIONS_IN_FUNDS` when this revision was written (a migration does
# not import the models: they move on).
IN_FUNDS = "status = 'open' OR open_entry_charges <> 0"


def upgrade() -> None:
    op.create_index(
        "ix_position_account_in_funds",
        "position",
        ["account"],
        unique=False,
        postgresql_where=sa.text(IN_FUNDS),
        sqlite_where=sa.text(IN_FUNDS),
    )


def downgrade() -> None:
    op.drop_index("ix_position_account_in_funds", table_name="position")
