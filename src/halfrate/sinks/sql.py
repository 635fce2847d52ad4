"""The SQL table sink: one row per request key, upserted, so a redelivery overwrites instead of
adding a row.

The table is created when missing. An existing table must have every column halfrate writes and
a primary key or unique constraint on ``key`` alone; otherwise every item fails with a reason that
says what to fix, and nothing is written.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateTable

from halfrate.errors import PayloadError
from halfrate.sinks.base import DeliveryReport, Outgoing, one_line, to_result, unique_items
from halfrate.sinks.spec import SinkSpec
from halfrate.tabular.results import output_text

COLUMNS = (
    "key",
    "job_id",
    "status",
    "status_code",
    "output_text",
    "response",
    "error_code",
    "error_message",
    "delivered_at",
)
CONNECT_TIMEOUT_SECONDS = 10  # a host that drops packets must not hold a worker for minutes


def result_table(name: str, schema: str | None) -> sa.Table:
    """The table halfrate creates when the sink's table does not exist yet."""
    return sa.Table(
        name,
        sa.MetaData(),
        # MySQL cannot index TEXT without a length; everywhere else TEXT is the natural type.
        sa.Column(
            "key", sa.Text().with_variant(sa.String(255), "mysql", "mariadb"), primary_key=True
        ),
        sa.Column("job_id", sa.Text()),
        sa.Column("status", sa.Text()),
        sa.Column("status_code", sa.Integer()),
        sa.Column("output_text", sa.Text()),
        sa.Column("response", sa.Text()),
        sa.Column("error_code", sa.Text()),
        sa.Column("error_message", sa.Text()),
        sa.Column("delivered_at", sa.Float()),
        schema=schema,
    )


class SqlSink:
    """Upserts results into one table of one database, in one transaction per delivery."""

    def __init__(self, spec: SinkSpec, url: sa.URL) -> None:
        if not spec.table:
            raise ValueError(f"sink {spec.display()} has no table")
        self.spec = spec
        self._url = url
        self._where = url.render_as_string(hide_password=True)  # for reasons: no password
        schema, _, name = spec.table.rpartition(".")
        self._table = result_table(name, schema or None)
        self._engine: sa.Engine | None = None
        self._checked = False  # the table was found usable; checked again after any error

    def deliver(self, items: Sequence[Outgoing], cursor: str | None) -> DeliveryReport:
        items = unique_items(items)
        failed: dict[str, str] = {}
        rows: dict[str, dict[str, Any]] = {}  # by request key: one row each, the last wins
        written: list[str] = []
        now = time.time()
        for item in items:
            try:
                rows[item.key] = _row(item, now)
            except PayloadError as exc:
                failed[item.idempotency_key] = one_line(f"{item.key}: {exc}")
                continue
            written.append(item.idempotency_key)
        if not rows:
            return DeliveryReport(delivered=[], failed=failed, cursor=cursor)
        connected = False
        problem: str | None = None
        try:
            engine = self._get_engine()
            with engine.begin() as conn:
                connected = True
                if not self._checked:
                    problem = self._check_table(conn)
                if problem is None:
                    upsert(conn, self._table, list(rows.values()))
        except sa.exc.SQLAlchemyError as exc:
            self._checked = False
            problem = self._reason(exc, connected=connected)
        if problem is not None:
            failed.update(dict.fromkeys(written, one_line(problem)))
            return DeliveryReport(delivered=[], failed=failed, cursor=cursor)
        return DeliveryReport(delivered=written, failed=failed, cursor=cursor)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def _get_engine(self) -> sa.Engine:
        if self._engine is None:
            options: dict[str, Any] = {"pool_pre_ping": True}
            backend = self._url.get_backend_name()
            if backend == "postgresql":
                # One delivery at a time per sink: a couple of connections is plenty.
                options.update(
                    pool_size=2,
                    max_overflow=2,
                    connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS},
                )
            elif backend == "sqlite":
                options["connect_args"] = {"timeout": 30}  # wait out another writer's lock
            self._engine = sa.create_engine(self._url, **options)
        return self._engine

    def _check_table(self, conn: sa.Connection) -> str | None:
        """Create the table if missing; the reason it cannot be used, or None."""
        table = self._table
        conn.execute(CreateTable(table, if_not_exists=True))
        inspector = sa.inspect(conn)
        present = {column["name"] for column in inspector.get_columns(table.name, table.schema)}
        missing = [name for name in COLUMNS if name not in present]
        if missing:
            return (
                f"table {self.spec.table} in {self._where} lacks the column(s) "
                f"{', '.join(missing)}: add them or name a new table for halfrate to create"
            )
        if not _key_is_unique(inspector, table):
            return (
                f"table {self.spec.table} in {self._where} has no primary key or unique "
                "constraint on key alone, which halfrate needs to upsert by key"
            )
        self._checked = True
        return None

    def _reason(self, exc: sa.exc.SQLAlchemyError, *, connected: bool) -> str:
        original = getattr(exc, "orig", None)
        detail = str(original if original is not None else exc).strip().splitlines()
        text = detail[0] if detail else type(exc).__name__
        password = self._url.password
        if password:
            text = text.replace(str(password), "***")
        if not connected:
            return f"cannot reach the database {self._where}: {text}"
        return f"writing to table {self.spec.table} in {self._where} failed: {text}"


def upsert(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (unique by key), replacing the rows already there with the same key."""
    dialect = conn.dialect.name
    if dialect not in ("postgresql", "sqlite"):
        update_then_insert(conn, table, rows)
        return
    insert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    statement = insert.on_conflict_do_update(
        index_elements=[table.c.key],
        set_={name: insert.excluded[name] for name in COLUMNS if name != "key"},
    )
    conn.execute(statement, rows)


def update_then_insert(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """The upsert for databases without ON CONFLICT: update, and insert where no row was there.
    A racing insert of the same key fails this delivery; its retry takes the update path."""
    for row in rows:
        values = {name: row[name] for name in COLUMNS if name != "key"}
        updated = conn.execute(table.update().where(table.c.key == row["key"]).values(values))
        if updated.rowcount == 0:
            conn.execute(table.insert().values(row))


def _row(item: Outgoing, now: float) -> dict[str, Any]:
    result = to_result(item)
    error = result.error or {}
    code, message = error.get("code"), error.get("message")
    return {
        "key": item.key,
        "job_id": item.job_id,
        "status": item.status,
        "status_code": item.status_code,
        "output_text": output_text(result.response),
        "response": item.response_json if result.response is not None else None,
        "error_code": None if code is None else str(code),
        "error_message": None if message is None else str(message),
        "delivered_at": now,
    }


def _key_is_unique(inspector: sa.Inspector, table: sa.Table) -> bool:
    if inspector.get_pk_constraint(table.name, table.schema).get("constrained_columns") == ["key"]:
        return True
    if any(
        constraint["column_names"] == ["key"]
        for constraint in inspector.get_unique_constraints(table.name, table.schema)
    ):
        return True
    return any(
        index["unique"] and index["column_names"] == ["key"]
        for index in inspector.get_indexes(table.name, table.schema)
    )
