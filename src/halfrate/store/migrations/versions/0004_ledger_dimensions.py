"""ledger dimensions: each attempt carries its request's provider, model, feature and team,
and a request's first attempt how long it waited in the queue

Reports group millions of ledger rows by these; copying them in (a few bytes a row) spares a
join with the requests table, whose rows hold whole request bodies.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

DIMENSIONS = ("provider", "model", "feature", "team")


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


def downgrade() -> None:
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_attempts_created_at"))
        batch_op.drop_column("queue_seconds")
        for column in reversed(DIMENSIONS):
            batch_op.drop_column(column)
