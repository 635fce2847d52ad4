"""Alembic environment: halfrate passes its own engine in ``config.attributes``."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

# Every module that describes tables, so that ``metadata`` holds them all.
from halfrate.store import admin_tables, request_bodies, request_hashes, team_timings  # noqa: F401
from halfrate.store.engine import WRITE_OPTION
from halfrate.store.tables import metadata

# Any constant works; it only has to be the same in every halfrate process.
_MIGRATION_LOCK_KEY = 0x68616C66

engine: sa.Engine = context.config.attributes["engine"]


def _is_new(connection: sa.Connection) -> bool:
    """Whether the database holds none of halfrate's tables (nor Alembic's record)."""
    present = set(sa.inspect(connection).get_table_names())
    return not present & {*metadata.tables, "alembic_version"}


with engine.connect().execution_options(**{WRITE_OPTION: True}) as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # SQLite changes a constraint by rebuilding the table, and dropping the old table must
        # not trip the foreign keys that point at it. The pragma only works outside a
        # transaction, so it goes straight to the driver (which is in autocommit mode here).
        connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
    try:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            # Several workers may start at once: the first migrates, the others wait and find
            # the schema current. (SQLite already serialises here through BEGIN IMMEDIATE.)
            if connection.dialect.name == "postgresql":
                connection.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK_KEY}
                )
            heading = context.get_revision_argument() == context.get_head_revision()
            if heading and _is_new(connection):
                # A new store is made from the tables as they are now and marked as at the
                # newest migration (Alembic's recipe for a database built from scratch): one
                # CREATE per table instead of every migration since the first, which rebuild
                # tables on SQLite (0.95 s for each new store here). Only an empty database
                # qualifies: anything else is migrated step by step. A test proves both ways
                # build the same schema.
                metadata.create_all(connection)
                context.get_context().stamp(context.script, "head")
            else:
                context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").first()
                if broken is not None:
                    raise RuntimeError(f"migration broke a foreign key: {tuple(broken)}")
        connection.commit()
    finally:
        if sqlite:
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]
