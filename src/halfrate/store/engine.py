"""Opening the database: engine, SQLite pragmas, migrations, and mapping driver errors."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url

from halfrate.errors import StoreError
from halfrate.private import create_private_file, private_folder

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# The newest migration. A store already there is opened without loading Alembic, which costs a
# quarter of a second of every command's start-up (tests/integration/test_migrations.py checks
# this is Alembic's own head).
SCHEMA_HEAD = "0013"
WRITE_OPTION = "halfrate_write"


def redact_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database URL>"


def create_engine(url: str) -> sa.Engine:
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise StoreError(f"invalid database URL {url!r}: {exc}") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed)
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return sa.create_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=5)
    raise StoreError(f"unsupported database {backend!r}: use sqlite:/// or postgresql+psycopg://")


def _sqlite_engine(url: sa.URL) -> sa.Engine:
    database = url.database or ""
    if database and database != ":memory:":
        path = Path(database).expanduser()
        try:
            # A new store is its owner's alone (SQLite gives its WAL the same mode).
            private_folder(path.parent)
            create_private_file(path)
        except OSError as exc:
            raise StoreError(f"cannot create {database}: {exc}") from exc
    engine = sa.create_engine(url, connect_args={"timeout": 60})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" hook below decide how each transaction begins.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=60000")
        # Fewer, larger checkpoints: each one fsyncs, and ingestion writes in bursts.
        cursor.execute("PRAGMA wal_autocheckpoint=10000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        # Writers take the write lock up front, so two processes never deadlock upgrading a read
        # lock; readers stay concurrent under WAL.
        write = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def alembic_config(engine: sa.Engine) -> Any:
    """Alembic's configuration for this store (Alembic is loaded here, when a schema changes)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


# Alembic's command context is process-global: two threads migrating at once corrupt it.
_migrate_lock = threading.Lock()


def migrate(engine: sa.Engine) -> None:
    """Bring the schema to the newest migration (safe to call on every start, from any thread)."""
    with translate_errors(engine):
        with engine.connect() as conn:
            if schema_revision(conn) == SCHEMA_HEAD:
                return  # the common case: nothing to do, no write lock taken, no Alembic loaded
        from alembic import command

        with _migrate_lock:
            command.upgrade(alembic_config(engine), "head")


def schema_revision(conn: sa.Connection) -> str | None:
    """The migration the store is at (None: a new database)."""
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    found = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    return None if found is None else str(found)


@contextlib.contextmanager
def translate_errors(engine: sa.Engine) -> Iterator[None]:
    """Turn driver-level failures into one readable StoreError."""
    try:
        yield
    except sa.exc.OperationalError as exc:
        where = redact_url(str(engine.url))
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise StoreError(f"database {where}: {reason}") from exc
    except sa.exc.InterfaceError as exc:
        raise StoreError(f"database {redact_url(str(engine.url))}: {exc.orig}") from exc
