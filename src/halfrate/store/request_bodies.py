"""What each stored request asks the provider: its body, as JSON, in a table of its own.

A request's row changes many times (claimed into a batch, settled, guarded, leased, retried),
and a database rewrites a whole row to change any column of it: with the body inside, every
state change copied the prompt too, and SQLite its overflow pages for a long one. Measured with
``sqlite3`` alone on 100,000 rows with the requests' partial indexes, claiming and settling
took 1.78 s for bodies of 2 KB kept in the row against 0.35 s here, whatever their size
(docs/architecture.md, "The schema and its migrations"). A body is written once, with its
request, and only read: when its batch file is written, when it is called, and when an
identical request is looked for.

A submission gives its requests their ids itself (:func:`new_request_ids`), so each body is
stored beside its request in the same bulk insert, without reading the ids back.
"""

from __future__ import annotations

import sqlalchemy as sa

from halfrate.store.base import bulk_insert
from halfrate.store.tables import BigId, metadata, requests

request_bodies = sa.Table(
    "request_bodies",
    metadata,
    sa.Column(
        "request_id", BigId, sa.ForeignKey("requests.id"), primary_key=True, autoincrement=False
    ),
    sa.Column("body", sa.Text, nullable=False),
)

_COLUMNS = ("request_id", "body")


def new_request_ids(conn: sa.Connection, count: int) -> list[int]:
    """``count`` ids for new requests, in ascending order, in a writing transaction.

    SQLite: the writer holds the database's write lock (``BEGIN IMMEDIATE``), so the ids after
    the largest are free until it commits, as SQLite itself would have given them. PostgreSQL:
    the ids' own sequence, which concurrent submissions share without waiting for each other.
    """
    if count <= 0:
        return []
    if conn.dialect.name == "postgresql":
        taken = conn.execute(
            sa.text(
                "SELECT nextval(pg_get_serial_sequence('requests', 'id')) "
                "FROM generate_series(1, :count)"
            ),
            {"count": count},
        ).scalars()
        return sorted(int(value) for value in taken)
    largest = conn.execute(sa.select(sa.func.max(requests.c.id))).scalar_one()
    start = int(largest or 0) + 1
    return list(range(start, start + count))


def store_bodies(conn: sa.Connection, rows: list[tuple[int, str]]) -> None:
    """The bodies of requests stored in the same transaction, as (request id, body JSON)."""
    bulk_insert(conn, request_bodies, _COLUMNS, rows)


def body_of(request_id: sa.ColumnElement[int]) -> sa.ScalarSelect[str]:
    """The body of the request ``request_id`` names, as a column to select or compare."""
    return (
        sa.select(request_bodies.c.body)
        .where(request_bodies.c.request_id == request_id)
        .scalar_subquery()
    )
