"""What every part of the store shares: the database and its transactions, new ids, bulk
inserts, and ``IN`` lists of any length."""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Iterator, Sequence
from typing import Any

import orjson
import sqlalchemy as sa

from halfrate.pricing.prices import PriceBook
from halfrate.store.engine import WRITE_OPTION, translate_errors


def new_id(prefix: str) -> str:
    """Time-ordered, unguessable ids: prefix, seconds in hex, 8 random hex digits."""
    return f"{prefix}_{int(time.time()):x}{secrets.token_hex(4)}"


def bulk_insert(
    conn: sa.Connection, table: sa.Table, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    """Insert many rows, given as tuples in ``columns`` order.

    On the hot paths (requests at submit, attempts and results at ingest) SQLAlchemy's per-row
    parameter handling costs more than the database's insert itself, so the rows go straight to
    the driver: SQLite's executemany (without the columns no row fills), and PostgreSQL's COPY
    (a third of the CPU of multi-row VALUES for 100,000 attempts, bench/workers.py), in the same
    transaction.
    """
    if not rows:
        return
    quote = conn.dialect.identifier_preparer.quote
    if conn.dialect.name == "postgresql":
        names = ", ".join(quote(name) for name in columns)
        _copy(conn, f"COPY {quote(table.name)} ({names}) FROM STDIN", rows)
        return
    if conn.dialect.name != "sqlite":
        conn.execute(table.insert(), [dict(zip(columns, row, strict=True)) for row in rows])
        return
    columns, rows = _without_empty_columns(table, columns, rows)
    names = ", ".join(quote(name) for name in columns)
    marks = ", ".join("?" for _ in columns)
    conn.exec_driver_sql(f"INSERT INTO {quote(table.name)} ({names}) VALUES ({marks})", rows)


def _without_empty_columns(
    table: sa.Table, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> tuple[Sequence[str], list[tuple[Any, ...]]]:
    """``columns`` and ``rows`` without the columns that are None in every row and have no
    default (left out of the INSERT, they are NULL all the same). Python's sqlite3 driver looks
    for an adapter for each None it binds, two failed attribute lookups each: a request row of
    submit carries about fifteen of them, and leaving them out makes its insert 4-6 us
    cheaper (a third of it)."""
    by_column = list(zip(*rows, strict=True))
    count = len(rows)
    kept = [
        index
        for index, name in enumerate(columns)
        if by_column[index].count(None) != count
        or table.c[name].server_default is not None
        or table.c[name].default is not None
    ]
    if len(kept) == len(columns):
        return columns, rows
    return [columns[i] for i in kept], list(zip(*(by_column[i] for i in kept), strict=True))


def _copy(conn: sa.Connection, statement: str, rows: list[tuple[Any, ...]]) -> None:
    """Rows into PostgreSQL with COPY, on the connection's own transaction; a driver error is
    raised as SQLAlchemy's, so the store's one error mapping (engine.translate_errors) sees it."""
    import psycopg

    driver: psycopg.Connection[Any] = conn.connection.dbapi_connection  # type: ignore[assignment]
    try:
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
    except psycopg.Error as exc:
        raise sa.exc.DBAPIError.instance(statement, None, exc, psycopg.Error) from exc


def id_in(
    conn: sa.Connection, column: sa.ColumnElement[int], ids: list[int]
) -> sa.ColumnElement[bool]:
    """``column IN ids`` as one bound value, however many ids: a JSON array on SQLite, an array
    on PostgreSQL. No per-id bind parameters to compile, and no limit on their number."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY

        return column == sa.any_(sa.bindparam(None, ids, type_=ARRAY(sa.BigInteger)))
    listed = sa.func.json_each(sa.bindparam(None, orjson.dumps(ids).decode(), type_=sa.Text))
    return column.in_(sa.select(listed.table_valued("value").c.value))


class Database:
    """An engine, its transactions, and the price book that prices attempts as they are stored.
    The query parts of :class:`halfrate.store.Store` each hold one."""

    def __init__(self, engine: sa.Engine, prices: PriceBook) -> None:
        self.engine = engine
        self.prices = prices

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
