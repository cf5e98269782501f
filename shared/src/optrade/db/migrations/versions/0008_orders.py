"""orders become their own record: the `order` table, the engine lease, trade exit_reason

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 07:00:00

Every existing position gets the order that opened it, with the same id (so every order id a
client holds keeps working), status `complete`, filled at the entry price when it opened; the
idempotency key, client_order_id and request fingerprint move from the position to that order.
Existing trades get their `exit_reason`: `settlement` for the ones settled at expiry, else
`client`.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MOVED = ("idempotency_key", "client_order_id", "request_fingerprint")


def _order_table() -> None:
    op.create_table(
        "order",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("intent", sa.String(length=8), nullable=False),
        sa.Column("order_type", sa.String(length=8), nullable=False),
        sa.Column("underlying", sa.String(length=20), nullable=False),
        sa.Column("expiry", sa.Date(), nullable=False),
        sa.Column("strike", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("option_type", sa.String(length=2), nullable=False),
        sa.Column("side", sa.String(length=4), nullable=False),
        sa.Column("lots", sa.Integer(), nullable=False),
        sa.Column("lot_size", sa.Integer(), nullable=True),
        sa.Column("price", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("trigger_price", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("rejection_reason", sa.Text(), nullable=True),
        sa.Column("average_price", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("filled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("position_id", sa.Integer(), nullable=True),
        sa.Column("trade_id", sa.Integer(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("client_order_id", sa.String(length=200), nullable=True),
        sa.Column("request_fingerprint", sa.String(length=64), nullable=True),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["position_id"], ["position.id"], name=op.f("fk_order_position_id_position")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order")),
        sa.UniqueConstraint("client_order_id", name=op.f("uq_order_client_order_id")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_order_idempotency_key")),
    )
    for column in ("status", "position_id", "created_at"):
        op.create_index(op.f(f"ix_order_{column}"), "order", [column], unique=False)


def _orders_of_existing_positions() -> None:
    op.execute(
        'INSERT INTO "order" (id, intent, order_type, underlying, expiry, strike, option_type, '
        "side, lots, lot_size, status, average_price, filled_at, position_id, idempotency_key, "
        "client_order_id, request_fingerprint, mode, created_at, updated_at) "
        "SELECT id, 'open', 'MARKET', underlying, expiry, strike, option_type, side, lots, "
        "lot_size, 'complete', entry_price, opened_at, id, idempotency_key, client_order_id, "
        "request_fingerprint, mode, opened_at, opened_at FROM position"
    )
    if op.get_bind().dialect.name == "postgresql":  # new orders number after the copied ids
        op.execute(
            "SELECT setval(pg_get_serial_sequence('\"order\"', 'id'), "
            'COALESCE((SELECT MAX(id) FROM "order"), 0) + 1, false)'
        )


def upgrade() -> None:
    _order_table()
    op.create_table(
        "engine_lease",
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("role", name=op.f("pk_engine_lease")),
    )
    _orders_of_existing_positions()
    with op.batch_alter_table("position", schema=None) as batch_op:
        batch_op.drop_constraint("uq_position_idempotency_key", type_="unique")
        batch_op.drop_constraint("uq_position_client_order_id", type_="unique")
        for column in MOVED:
            batch_op.drop_column(column)
    with op.batch_alter_table("trade", schema=None) as batch_op:
        batch_op.add_column(sa.Column("exit_reason", sa.String(length=16), nullable=True))
    op.execute(
        "UPDATE trade SET exit_reason = CASE WHEN exit_price_source = 'settlement' "
        "THEN 'settlement' ELSE 'client' END"
    )


def downgrade() -> None:
    with op.batch_alter_table("trade", schema=None) as batch_op:
        batch_op.drop_column("exit_reason")
    with op.batch_alter_table("position", schema=None) as batch_op:
        batch_op.add_column(sa.Column("idempotency_key", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("client_order_id", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("request_fingerprint", sa.String(length=64), nullable=True))
    op.execute(
        "UPDATE position SET idempotency_key = o.idempotency_key, "
        "client_order_id = o.client_order_id, request_fingerprint = o.request_fingerprint "
        "FROM \"order\" o WHERE o.position_id = position.id AND o.intent = 'open'"
    )
    with op.batch_alter_table("position", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_position_idempotency_key", ["idempotency_key"])
        batch_op.create_unique_constraint("uq_position_client_order_id", ["client_order_id"])
    op.drop_table("engine_lease")
    for column in ("created_at", "position_id", "status"):
        op.drop_index(op.f(f"ix_order_{column}"), table_name="order")
    op.drop_table("order")
