"""checks without IN lists: the state and lane CHECKs of requests, batches and routes test their
values with ``=`` joined by OR. SQLite builds an IN list of more than two constants into a
temporary table on every run of a statement, so a bulk INSERT of request rows paid for two such
tables per row (docs/architecture.md). What the checks allow is unchanged.

SQLite changes a CHECK by rebuilding the table; the partial indexes of requests are dropped
before and made again after, since the rebuild would not carry their WHERE clauses over.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

REQUEST_STATES = ("queued", "in_batch", "in_call", "succeeded", "failed", "cancelled")
BATCH_STATES = ("pending", "submitted", "ingested", "abandoned")
LANES = ("realtime", "flex", "batch", "cache")

# The partial indexes of requests as 0010 left them: name, columns, WHERE.
PARTIAL_INDEXES = (
    ("ix_requests_ready", ["lane", "provider", "endpoint", "model", "id"], "state = 'queued'"),
    ("ix_requests_in_call", ["lease_until"], "state = 'in_call'"),
    (
        "ix_requests_guard",
        ["guard_at"],
        "guard_at IS NOT NULL AND lane = 'batch' AND state IN ('queued', 'in_batch')",
    ),
    ("ix_requests_in_batch", ["batch_id", "id"], "state = 'in_batch'"),
    ("ix_requests_queued_prefix", ["prefix_key"], "state = 'queued' AND prefix_key IS NOT NULL"),
)

# (table, constraint name as the naming convention spells it, column, allowed values)
CHECKS = (
    ("requests", "ck_requests_state", "state", REQUEST_STATES),
    ("requests", "ck_requests_lane", "lane", LANES),
    ("batches", "ck_batches_state", "state", BATCH_STATES),
    ("routes", "ck_routes_lane", "lane", LANES),
)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return " OR ".join(f"{column} = '{v}'" for v in values)


def _in(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


def _rewrite(spell: Callable[[str, tuple[str, ...]], str]) -> None:
    """Each check of CHECKS, dropped and made again as ``spell(column, values)`` writes it."""
    rebuilds = op.get_bind().dialect.name == "sqlite"  # PostgreSQL alters the table in place
    for table in ("requests", "batches", "routes"):
        partial = PARTIAL_INDEXES if rebuilds and table == "requests" else ()
        for name, _columns, where in partial:
            op.drop_index(name, table_name=table, sqlite_where=sa.text(where))
        with op.batch_alter_table(table) as batch:
            for owner, name, column, values in CHECKS:
                if owner == table:
                    batch.drop_constraint(op.f(name), type_="check")
                    batch.create_check_constraint(op.f(name), sa.text(spell(column, values)))
        for name, columns, where in partial:
            op.create_index(name, table, columns, unique=False, sqlite_where=sa.text(where))


def upgrade() -> None:
    _rewrite(_one_of)


def downgrade() -> None:
    _rewrite(_in)
