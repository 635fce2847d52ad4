"""shared answers: identical requests share one answer (dedup, the response cache)

Requests carry a digest of what they ask (provider, endpoint, body) and, in lane cache, the
request whose answer they get; attempts say how a cache-lane answer was got; the daily ledger
rollup is keyed by it too, so reports tell dedup savings from response-cache savings. The
rollups are recomputed from the attempts by halfrate's own rollup code (in revision 0009, the
newest that changes them): the buckets and sums must be exactly those it keeps.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
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


def _ledger_days(with_cache_kind: bool) -> None:
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
    if with_cache_kind:
        keys.append(sa.Column("cache_kind", sa.String(length=16), nullable=False))
    op.create_table(
        "ledger_days",
        *keys,
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in SUMS),
        sa.PrimaryKeyConstraint(*(c.name for c in keys), name=op.f("pk_ledger_days")),
    )


def upgrade() -> None:
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("content_hash", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("answered_by", BigId, nullable=True))
        batch_op.create_index(
            batch_op.f("ix_requests_content_hash"), ["content_hash"], unique=False
        )
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cache_kind", sa.String(length=16), nullable=True))
    # A new primary key: the table is rebuilt (it only holds sums of the attempts).
    op.drop_table("ledger_days")
    _ledger_days(with_cache_kind=True)
    # Filled from the attempts by revision 0008, which changes the rollups again (halfrate's
    # rollup code reads the newest schema: only the newest revision touching them may run it).


KEYS_BEFORE = "day, provider, model, feature, team, lane, waiting, moved, slack_hours"


def downgrade() -> None:
    # The same sums without the cache_kind key (dedup and response-cache rows add up); read
    # first, as the table is rebuilt under its own name (thousands of rows, not millions).
    conn = op.get_bind()
    sums = ", ".join(f"SUM({name})" for name in SUMS)
    rows = conn.execute(
        sa.text(f"SELECT {KEYS_BEFORE}, {sums} FROM ledger_days GROUP BY {KEYS_BEFORE}")
    ).all()
    op.drop_table("ledger_days")
    _ledger_days(with_cache_kind=False)
    if rows:
        names = [*KEYS_BEFORE.split(", "), *SUMS]
        table = sa.table("ledger_days", *(sa.column(name) for name in names))
        conn.execute(table.insert(), [dict(zip(names, row, strict=True)) for row in rows])
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.drop_column("cache_kind")
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_requests_content_hash"))
        batch_op.drop_column("answered_by")
        batch_op.drop_column("content_hash")
