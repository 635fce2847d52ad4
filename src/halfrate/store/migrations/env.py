"""Alembic environment: halfrate passes its own engine in ``config.attributes``."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from halfrate.store.engine import WRITE_OPTION
from halfrate.store.tables import metadata

# Any constant works; it only has to be the same in every halfrate process.
_MIGRATION_LOCK_KEY = 0x68616C66

engine: sa.Engine = context.config.attributes["engine"]
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
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").first()
                if broken is not None:
                    raise RuntimeError(f"migration broke a foreign key: {tuple(broken)}")
        connection.commit()
    finally:
        if sqlite:
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]
