"""Which stored requests ask what: the digest of each request that may share answers
(``requests.content_hash``), kept as its own table for the lookups of identical requests
(dedup and the response cache, :mod:`halfrate.store.answers`).

An index on ``requests.content_hash`` would take each new digest at a random place as its row is
inserted: past a few hundred thousand requests that cost more than the rest of the row (13 us of
a 20 us insert for the millionth request of a submission, on SQLite). Here a submission's digests
are added once all its rows are stored, in digest order, about 1 us each. Rows are only ever
added, by the submission that stores their request, in the same transaction.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from halfrate.store.tables import BigId, metadata, requests

request_hashes = sa.Table(
    "request_hashes",
    metadata,
    sa.Column("content_hash", sa.BigInteger, primary_key=True),
    # No foreign key: each id is read from `requests` in the transaction that writes it, and a
    # check per row would look each request up again, in digest order (at random).
    sa.Column("request_id", BigId, primary_key=True),
    sqlite_with_rowid=False,  # the key is the whole row: a table that is its own index
)


def record_hashes(conn: sa.Connection, job_id: str, created_at: float, after_id: int) -> None:
    """Add the digests of the requests that ``job_id`` stored at ``created_at`` (one call of
    :meth:`SubmissionQueries.submit`; its rows come after request ``after_id``), in digest
    order."""
    stored = (
        sa.select(requests.c.content_hash, requests.c.id)
        .where(
            requests.c.job_id == job_id,
            requests.c.id > after_id,  # the job's earlier rows are not read again
            requests.c.created_at == created_at,
            requests.c.content_hash.is_not(None),
        )
        .order_by(requests.c.content_hash)
    )
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    insert = dialect.insert(request_hashes).from_select(["content_hash", "request_id"], stored)
    # Already recorded is recorded: only two calls of one time into one job on PostgreSQL, each
    # committing while the other records, could meet here (SubmissionQueries.submit keeps each
    # call's time its own within a job).
    conn.execute(insert.on_conflict_do_nothing())
