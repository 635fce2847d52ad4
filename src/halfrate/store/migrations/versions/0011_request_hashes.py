"""request hashes: the digests of requests that may share answers move from an index on
requests.content_hash to a table of their own, filled per submission in digest order
(halfrate.store.request_hashes)

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "request_hashes",
        sa.Column("content_hash", sa.BigInteger(), nullable=False),
        sa.Column(
            "request_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("content_hash", "request_id", name=op.f("pk_request_hashes")),
        sqlite_with_rowid=False,
    )
    op.execute(
        "INSERT INTO request_hashes (content_hash, request_id) "
        "SELECT content_hash, id FROM requests WHERE content_hash IS NOT NULL "
        "ORDER BY content_hash"
    )
    op.drop_index("ix_requests_content_hash", table_name="requests")


def downgrade() -> None:
    op.create_index("ix_requests_content_hash", "requests", ["content_hash"], unique=False)
    op.drop_table("request_hashes")
