"""cancel and write-back: jobs can be cancelled; sinks and their delivery outbox

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
PENDING = "delivered_at IS NULL"


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cancel_requested_at", sa.Double(), nullable=True))
    op.create_table(
        "sinks",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("job_id", sa.String(length=40), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("cursor", sa.Text(), nullable=True),
        sa.Column("lease_until", sa.Double(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_sinks_job_id_jobs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sinks")),
        sa.UniqueConstraint("job_id", "spec", name=op.f("uq_sinks_job_id_spec")),
    )
    op.create_table(
        "deliveries",
        sa.Column("sink_id", sa.String(length=40), nullable=False),
        sa.Column("request_id", BigId, nullable=False),
        sa.Column("delivered_at", sa.Double(), nullable=True),
        sa.Column("tries", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_try_at", sa.Double(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"], ["requests.id"], name=op.f("fk_deliveries_request_id_requests")
        ),
        sa.ForeignKeyConstraint(
            ["sink_id"], ["sinks.id"], name=op.f("fk_deliveries_sink_id_sinks")
        ),
        sa.PrimaryKeyConstraint("sink_id", "request_id", name=op.f("pk_deliveries")),
    )
    op.create_index(
        "ix_deliveries_pending",
        "deliveries",
        ["sink_id", "next_try_at"],
        unique=False,
        sqlite_where=sa.text(PENDING),
        postgresql_where=sa.text(PENDING),
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_pending", table_name="deliveries")
    op.drop_table("deliveries")
    op.drop_table("sinks")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("cancel_requested_at")
