"""lanes and routes: realtime and flex calls, routing decisions, deadlines, timings, costs

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
STATES_BEFORE = "state IN ('queued', 'in_batch', 'succeeded', 'failed', 'cancelled')"
STATES_AFTER = "state IN ('queued', 'in_batch', 'in_call', 'succeeded', 'failed', 'cancelled')"
LANES = "lane IN ('realtime', 'flex', 'batch', 'cache')"
GUARDED = "guard_at IS NOT NULL AND lane = 'batch' AND state IN ('queued', 'in_batch')"
QUEUED = "state = 'queued'"
IN_CALL = "state = 'in_call'"


def upgrade() -> None:
    op.create_table(
        "routes",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("lane", sa.String(length=16), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("fallback_lane", sa.String(length=16), nullable=True),
        sa.Column("waiting", sa.Boolean(), nullable=False),
        sa.Column("rule_number", sa.Integer(), nullable=True),
        sa.Column("rule_name", sa.String(length=200), nullable=True),
        sa.Column("policy_source", sa.Text(), nullable=False),
        sa.Column("rule_line", sa.Integer(), nullable=True),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.CheckConstraint(LANES, name=op.f("ck_routes_lane")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routes")),
    )
    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cancel_requested_at", sa.Double(), nullable=True))
        batch_op.add_column(sa.Column("cancel_reason", sa.String(length=32), nullable=True))
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cache_write_tokens", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("cache_write_1h_tokens", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("ttft", sa.Double(), nullable=True))
        batch_op.add_column(sa.Column("tibt", sa.Double(), nullable=True))
        batch_op.add_column(sa.Column("duration", sa.Double(), nullable=True))
        batch_op.add_column(sa.Column("cost_nano", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("realtime_cost_nano", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("route_cost_nano", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("price_source", sa.String(length=100), nullable=True))
    # The ready index gains the lane; partial indexes are dropped and made again by hand, since
    # SQLite's table rebuild below would not carry their WHERE clauses over.
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.drop_index("ix_requests_ready", sqlite_where=sa.text(QUEUED))
        batch_op.drop_index("ix_requests_in_batch", sqlite_where=sa.text("state = 'in_batch'"))
    with op.batch_alter_table("requests", schema=None, recreate="auto") as batch_op:
        batch_op.add_column(sa.Column("tags", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("lane", sa.String(length=16), server_default="batch", nullable=False)
        )
        batch_op.add_column(sa.Column("route_id", BigId, nullable=True))
        batch_op.add_column(sa.Column("requested_model", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("moved_by", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("deadline", sa.Double(), nullable=True))
        batch_op.add_column(sa.Column("guard_at", sa.Double(), nullable=True))
        batch_op.add_column(sa.Column("lease_until", sa.Double(), nullable=True))
        batch_op.drop_constraint(op.f("ck_requests_state"), type_="check")
        batch_op.create_check_constraint(op.f("ck_requests_state"), sa.text(STATES_AFTER))
        batch_op.create_check_constraint(op.f("ck_requests_lane"), sa.text(LANES))
        batch_op.create_foreign_key(
            op.f("fk_requests_route_id_routes"), "routes", ["route_id"], ["id"]
        )
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.create_index(
            "ix_requests_ready",
            ["lane", "provider", "endpoint", "model", "id"],
            unique=False,
            sqlite_where=sa.text(QUEUED),
            postgresql_where=sa.text(QUEUED),
        )
        batch_op.create_index(
            "ix_requests_in_batch",
            ["batch_id", "id"],
            unique=False,
            sqlite_where=sa.text("state = 'in_batch'"),
            postgresql_where=sa.text("state = 'in_batch'"),
        )
        batch_op.create_index(
            "ix_requests_in_call",
            ["lease_until"],
            unique=False,
            sqlite_where=sa.text(IN_CALL),
            postgresql_where=sa.text(IN_CALL),
        )
        batch_op.create_index(
            "ix_requests_guard",
            ["guard_at"],
            unique=False,
            sqlite_where=sa.text(GUARDED),
            postgresql_where=sa.text(GUARDED),
        )


def downgrade() -> None:
    with op.batch_alter_table("requests", schema=None) as batch_op:
        for name in ("ix_requests_guard", "ix_requests_in_call", "ix_requests_ready"):
            batch_op.drop_index(name)
        batch_op.drop_index("ix_requests_in_batch")
    with op.batch_alter_table("requests", schema=None, recreate="auto") as batch_op:
        batch_op.drop_constraint(op.f("fk_requests_route_id_routes"), type_="foreignkey")
        batch_op.drop_constraint(op.f("ck_requests_lane"), type_="check")
        batch_op.drop_constraint(op.f("ck_requests_state"), type_="check")
        batch_op.create_check_constraint(op.f("ck_requests_state"), sa.text(STATES_BEFORE))
        for column in (
            "lease_until",
            "guard_at",
            "deadline",
            "moved_by",
            "requested_model",
            "route_id",
            "lane",
            "tags",
        ):
            batch_op.drop_column(column)
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.create_index(
            "ix_requests_ready",
            ["provider", "endpoint", "model", "id"],
            unique=False,
            sqlite_where=sa.text(QUEUED),
            postgresql_where=sa.text(QUEUED),
        )
        batch_op.create_index(
            "ix_requests_in_batch",
            ["batch_id", "id"],
            unique=False,
            sqlite_where=sa.text("state = 'in_batch'"),
            postgresql_where=sa.text("state = 'in_batch'"),
        )
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        for column in (
            "price_source",
            "route_cost_nano",
            "realtime_cost_nano",
            "cost_nano",
            "duration",
            "tibt",
            "ttft",
            "cache_write_1h_tokens",
            "cache_write_tokens",
        ):
            batch_op.drop_column(column)
    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.drop_column("cancel_reason")
        batch_op.drop_column("cancel_requested_at")
    op.drop_table("routes")
