"""people, keys and call timings: accounts can be disabled and signed out everywhere, one-time
links set a password, provider keys entered on the web page are kept sealed, the response
cache can be cleared (`halfrate cache clear`), and the realtime
calls' timing histograms are kept per team, model and feature (the spend page's
price/performance table); every rollup is recomputed from the attempts by halfrate's own code

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("disabled_at", sa.Double(), nullable=True))
        batch.add_column(sa.Column("sessions_after", sa.Double(), nullable=True))
    op.create_table(
        "provider_keys",
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("sealed", sa.Text(), nullable=False),
        sa.Column("last4", sa.String(length=4), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("checked_at", sa.Double(), nullable=True),
        sa.Column("check_message", sa.String(length=400), nullable=True),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.Column("updated_by", sa.String(length=320), nullable=True),
        sa.PrimaryKeyConstraint("provider", name=op.f("pk_provider_keys")),
    )
    op.create_table(
        "account_links",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.Column("used_at", sa.Double(), nullable=True),
        sa.Column("created_by", sa.String(length=320), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_account_links_user_id_users")
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_account_links")),
    )
    op.create_index(op.f("ix_account_links_user_id"), "account_links", ["user_id"], unique=False)
    op.create_table(
        "response_cache_clears",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("feature", sa.String(length=200), nullable=True),
        sa.Column("before", sa.Double(), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("by", sa.String(length=320), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_response_cache_clears")),
    )
    op.create_table(
        "ledger_call_timings",
        sa.Column("day", sa.BigInteger(), nullable=False),
        sa.Column("team", sa.String(length=200), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("feature", sa.String(length=200), nullable=False),
        sa.Column("lane", sa.String(length=16), nullable=False),
        sa.Column("metric", sa.String(length=8), nullable=False),
        sa.Column("bucket_ms", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "day",
            "team",
            "model",
            "feature",
            "lane",
            "metric",
            "bucket_ms",
            name=op.f("pk_ledger_call_timings"),
        ),
    )
    # In the order the spend page sums the histograms, with every column: SQLite reads a
    # period's price and speed from the index alone, without sorting.
    op.create_index(
        "ix_ledger_call_timings_by_call",
        "ledger_call_timings",
        ["model", "feature", "lane", "metric", "bucket_ms", "day", "team", "count"],
        unique=False,
    )
    from halfrate.store.rollup import rebuild

    rebuild(op.get_bind())


def downgrade() -> None:
    op.drop_index("ix_ledger_call_timings_by_call", table_name="ledger_call_timings")
    op.drop_table("ledger_call_timings")
    op.drop_table("response_cache_clears")
    op.drop_index(op.f("ix_account_links_user_id"), table_name="account_links")
    op.drop_table("account_links")
    op.drop_table("provider_keys")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("sessions_after")
        batch.drop_column("disabled_at")
