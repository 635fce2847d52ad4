"""table plans: a `halfrate run` job remembers the table and what was asked of it

So its answers can be written back as the table later (`halfrate run --no-wait`, then
`halfrate results JOB -o FILE`), and `--retry-failed` can find the run it retries. JSON text,
null for jobs submitted as JSONL or from Python requests.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("table_plan", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("table_plan")
