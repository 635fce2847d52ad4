"""ledger dimensions and rollups: each attempt carries its request's provider, model, feature
and team, and a request's first attempt how long it waited in the queue; daily rollups of the
ledger (sums, and timing histograms) for reports; budget reservations

Reports group millions of ledger rows by these; copying them in (a few bytes a row) spares a
join with the requests table, whose rows hold whole request bodies, and the rollups spare the
scan. The rollups are filled from the attempts already stored by revision 0005, which changes
their key and runs halfrate's own rollup code (that code reads the newest schema, so only the
newest revision that touches the rollups may run it).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

DIMENSIONS = ("provider", "model", "feature", "team")
SUMS = (
    "attempts",
    "requests",
    "billed",
    "unpriced",
    "input_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cost_nano",
    "realtime_cost_nano",
)


def upgrade() -> None:
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("provider", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("model", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("feature", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("team", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("queue_seconds", sa.Double(), nullable=True))
        batch_op.create_index(batch_op.f("ix_attempts_created_at"), ["created_at"], unique=False)
    # Attempts stored before this revision get their request's values.
    for column in DIMENSIONS:
        op.execute(
            f"UPDATE attempts SET {column} = "
            f"(SELECT requests.{column} FROM requests WHERE requests.id = attempts.request_id)"
        )
    keys: list[sa.Column[Any]] = [
        sa.Column("day", sa.BigInteger(), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("feature", sa.String(length=200), nullable=False),
        sa.Column("team", sa.String(length=200), nullable=False),
        sa.Column("lane", sa.String(length=16), nullable=False),
        sa.Column("waiting", sa.Integer(), nullable=False),
        sa.Column("moved", sa.Integer(), nullable=False),
        sa.Column("slack_hours", sa.Integer(), nullable=False),
    ]
    op.create_table(
        "ledger_days",
        *keys,
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in SUMS),
        sa.PrimaryKeyConstraint(*(c.name for c in keys), name=op.f("pk_ledger_days")),
    )
    op.create_table(
        "ledger_timings",
        sa.Column("day", sa.BigInteger(), nullable=False),
        sa.Column("lane", sa.String(length=16), nullable=False),
        sa.Column("metric", sa.String(length=8), nullable=False),
        sa.Column("bucket_ms", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "day", "lane", "metric", "bucket_ms", name=op.f("pk_ledger_timings")
        ),
    )
    op.create_table(
        "reservations",
        sa.Column("job_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("month_start", sa.Double(), nullable=False),
        sa.Column("reserved_nano", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_reservations_job_id_jobs")),
        sa.PrimaryKeyConstraint("job_id", "kind", "name", name=op.f("pk_reservations")),
    )
    op.create_index(
        op.f("ix_reservations_kind_name_month_start"),
        "reservations",
        ["kind", "name", "month_start"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_reservations_kind_name_month_start"), table_name="reservations")
    op.drop_table("reservations")
    op.drop_table("ledger_timings")
    op.drop_table("ledger_days")
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_attempts_created_at"))
        batch_op.drop_column("queue_seconds")
        for column in reversed(DIMENSIONS):
            batch_op.drop_column(column)
