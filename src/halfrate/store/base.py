"""The Store object: an engine, transactions, and the parts that hold the queries."""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from halfrate.store.engine import WRITE_OPTION, create_engine, migrate, translate_errors


def new_id(prefix: str) -> str:
    """Time-ordered, unguessable ids: prefix, seconds in hex, 8 random hex digits."""
    return f"{prefix}_{int(time.time()):x}{secrets.token_hex(4)}"


def chunked(items: list[int], size: int = 5_000) -> Iterator[list[int]]:
    # Bounded IN lists: SQLite caps bound parameters per statement.
    for start in range(0, len(items), size):
        yield items[start : start + size]


_INSERT_SQL: dict[tuple[str, str, tuple[str, ...]], tuple[str, tuple[str, ...]]] = {}


def bulk_insert(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Insert many rows with the driver's own executemany.

    SQLAlchemy's per-row parameter processing costs more than SQLite's insert itself on the hot
    paths (requests at submit, attempts and results at ingest), so on SQLite the statement is
    compiled once and the rows go to the driver as tuples. PostgreSQL keeps SQLAlchemy's
    multi-row VALUES batching, which is already the fast path there.
    """
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        conn.execute(table.insert(), rows)
        return
    columns = tuple(rows[0])
    key = (conn.dialect.name, table.name, columns)
    cached = _INSERT_SQL.get(key)
    if cached is None:
        compiled = table.insert().compile(dialect=conn.dialect, column_keys=list(columns))
        order = tuple(compiled.positiontup or ())
        cached = _INSERT_SQL[key] = (str(compiled), order)
    sql, order = cached
    conn.exec_driver_sql(sql, [tuple(row[name] for name in order) for row in rows])


class Store:
    def __init__(self, engine: sa.Engine) -> None:
        from halfrate.store.ingest import IngestQueries
        from halfrate.store.queue import QueueQueries
        from halfrate.store.reads import ReadQueries
        from halfrate.store.submissions import SubmissionQueries

        self.engine = engine
        self.submissions = SubmissionQueries(self)
        self.queue = QueueQueries(self)
        self.ingest = IngestQueries(self)
        self.reads = ReadQueries(self)

    @classmethod
    def open(cls, url: str, *, migrate_schema: bool = True) -> Store:
        engine = create_engine(url)
        if migrate_schema:
            migrate(engine)
        return cls(engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextlib.contextmanager
    def write(self) -> Iterator[sa.Connection]:
        """A write transaction (SQLite: BEGIN IMMEDIATE); commits on success."""
        with (
            translate_errors(self.engine),
            self.engine.connect().execution_options(**{WRITE_OPTION: True}) as conn,
            conn.begin(),
        ):
            yield conn

    @contextlib.contextmanager
    def read(self) -> Iterator[sa.Connection]:
        with translate_errors(self.engine), self.engine.connect() as conn, conn.begin():
            yield conn

    def close(self) -> None:
        self.engine.dispose()
