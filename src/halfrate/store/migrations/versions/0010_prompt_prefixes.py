"""prompt prefixes: each request keeps the prompt prefix it shares with other requests (its
group's digest, its size, where halfrate may mark it), and each route the lifetime of a
prompt-cache marker outside batches (docs/prompt-caching.md)

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

QUEUED_WITH_PREFIX = "state = 'queued' AND prefix_key IS NOT NULL"


def upgrade() -> None:
    # Plain ADD COLUMN on both databases: no table rebuild, the partial indexes stay as they are.
    op.add_column("requests", sa.Column("prefix_key", sa.String(length=16), nullable=True))
    op.add_column("requests", sa.Column("prefix_tokens", sa.Integer(), nullable=True))
    op.add_column("requests", sa.Column("prefix_parts", sa.Integer(), nullable=True))
    op.add_column("routes", sa.Column("prompt_cache_ttl", sa.String(length=4), nullable=True))
    op.create_index(
        "ix_requests_queued_prefix",
        "requests",
        ["prefix_key"],
        unique=False,
        sqlite_where=sa.text(QUEUED_WITH_PREFIX),
        postgresql_where=sa.text(QUEUED_WITH_PREFIX),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_requests_queued_prefix",
        table_name="requests",
        sqlite_where=sa.text(QUEUED_WITH_PREFIX),
        postgresql_where=sa.text(QUEUED_WITH_PREFIX),
    )
    with op.batch_alter_table("routes") as batch:
        batch.drop_column("prompt_cache_ttl")
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("prefix_parts")
        batch.drop_column("prefix_tokens")
        batch.drop_column("prefix_key")
