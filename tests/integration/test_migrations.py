"""Upgrading a store made by an earlier halfrate keeps every request and job, on both databases."""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from halfrate.store import Store
from halfrate.store.engine import SCHEMA_HEAD, alembic_config, create_engine, migrate
from halfrate.store.tables import metadata


def _seed_revision_0001(engine: sa.Engine) -> None:
    command.upgrade(alembic_config(engine), "0001")
    now = time.time()
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO jobs (id, name, created_at) VALUES ('job_1', 'old', :t)"),
            {"t": now},
        )
        for i, state in enumerate(("queued", "succeeded", "failed")):
            conn.execute(
                sa.text(
                    "INSERT INTO requests (job_id, key, provider, endpoint, model, body, "
                    "body_bytes, state, attempt_count, created_at, updated_at) VALUES "
                    "('job_1', :k, 'openai', '/v1/chat/completions', 'gpt-4o-mini', '{}', 2, "
                    ":s, 0, :t, :t)"
                ),
                {"k": f"k{i}", "s": state, "t": now},
            )
        conn.execute(
            sa.text(
                "INSERT INTO attempts (request_id, lane, outcome, input_tokens, created_at) "
                "SELECT id, 'batch', state, 7, :t FROM requests WHERE state <> 'queued'"
            ),
            {"t": now},
        )


def test_upgrade_from_0001_keeps_the_data_and_allows_the_new_states(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        _seed_revision_0001(engine)
        migrate(engine)
        store = Store(engine)
        with store.read() as conn:
            rows = conn.execute(sa.text("SELECT key, state, lane FROM requests ORDER BY key")).all()
            assert [tuple(r) for r in rows] == [
                ("k0", "queued", "batch"),
                ("k1", "succeeded", "batch"),
                ("k2", "failed", "batch"),
            ]
            assert conn.execute(sa.text("SELECT count(*) FROM attempts")).scalar_one() == 2
        with store.write() as conn:  # the new state is allowed ...
            conn.execute(sa.text("UPDATE requests SET state = 'in_call' WHERE key = 'k0'"))
        with pytest.raises(sa.exc.IntegrityError), store.write() as conn:  # ... others are not
            conn.execute(sa.text("UPDATE requests SET state = 'lost' WHERE key = 'k0'"))
        with pytest.raises(sa.exc.IntegrityError), store.write() as conn:
            conn.execute(sa.text("UPDATE requests SET lane = 'teleport' WHERE key = 'k0'"))
        if engine.dialect.name == "sqlite":
            with engine.connect() as conn:  # the rebuild left the foreign keys on and whole
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
                assert conn.exec_driver_sql("PRAGMA foreign_key_check").first() is None
    finally:
        engine.dispose()


def test_shared_answers_revision_rebuilds_the_rollups_and_downgrades_with_them(
    database_url: str,
) -> None:
    """0005 re-keys the daily rollup by cache kind, filled from the attempts already stored;
    going back to 0004 keeps the same sums under the old key."""
    engine = create_engine(database_url)
    sums = "SELECT lane, sum(attempts), sum(input_tokens), sum(cost_nano) FROM ledger_days "
    try:
        _seed_revision_0001(engine)
        command.upgrade(alembic_config(engine), "0004")
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE attempts SET cost_nano = 5, realtime_cost_nano = 10"))
        migrate(engine)
        with engine.connect() as conn:
            at_head = conn.execute(sa.text(sums + "GROUP BY lane")).all()
            kinds = conn.execute(sa.text("SELECT DISTINCT cache_kind FROM ledger_days")).all()
        assert [tuple(r) for r in at_head] == [("batch", 2, 14, 10)]
        assert [tuple(r) for r in kinds] == [("",)]
        command.downgrade(alembic_config(engine), "0004")
        with engine.connect() as conn:
            back = conn.execute(sa.text(sums + "GROUP BY lane")).all()
        assert [tuple(r) for r in back] == [("batch", 2, 14, 10)]
        migrate(engine)
        with engine.connect() as conn:
            assert conn.execute(sa.text(sums + "GROUP BY lane")).all() == at_head
    finally:
        engine.dispose()


def test_the_head_halfrate_checks_without_alembic_is_alembics_own(tmp_path: object) -> None:
    from alembic.script import ScriptDirectory

    engine = create_engine("sqlite://")
    try:
        head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    finally:
        engine.dispose()
    assert head == SCHEMA_HEAD


def test_request_hashes_revision_moves_the_digests_and_back(database_url: str) -> None:
    """0011 moves the digests of requests that may share answers from an index on requests to
    request_hashes, filled from the requests already stored; identical requests submitted
    after the upgrade find them there. Going back to 0010 restores the index."""
    engine = create_engine(database_url)
    digests = "SELECT content_hash, request_id FROM request_hashes ORDER BY request_id"
    try:
        _seed_revision_0001(engine)
        command.upgrade(alembic_config(engine), "0010")
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE requests SET content_hash = -7 WHERE key = 'k0'"))
            conn.execute(sa.text("UPDATE requests SET content_hash = 42 WHERE key = 'k1'"))
            ids: dict[str, int] = dict(conn.execute(sa.text("SELECT key, id FROM requests")).all())
        migrate(engine)
        with engine.connect() as conn:
            rows = [tuple(r) for r in conn.execute(sa.text(digests))]
            indexes = {i["name"] for i in sa.inspect(conn).get_indexes("requests")}
        assert rows == [(-7, ids["k0"]), (42, ids["k1"])]
        assert "ix_requests_content_hash" not in indexes
        command.downgrade(alembic_config(engine), "0010")
        with engine.connect() as conn:
            inspector = sa.inspect(conn)
            assert "request_hashes" not in inspector.get_table_names()
            indexes = {i["name"] for i in inspector.get_indexes("requests")}
        assert "ix_requests_content_hash" in indexes
        migrate(engine)
        with engine.connect() as conn:
            assert [tuple(r) for r in conn.execute(sa.text(digests))] == rows
    finally:
        engine.dispose()


def _checks_and_partial_indexes(conn: sa.Connection) -> tuple[dict[str, str], dict[str, str]]:
    """The state and lane CHECKs of requests, batches and routes (name -> text), and the
    WHERE clauses of the partial indexes of requests (name -> index definition)."""
    inspector = sa.inspect(conn)
    checks = {
        str(c["name"]): c["sqltext"]
        for table in ("requests", "batches", "routes")
        for c in inspector.get_check_constraints(table)
    }
    if conn.dialect.name == "sqlite":
        query = "SELECT name, sql FROM sqlite_master WHERE tbl_name = 'requests' AND sql LIKE :w"
    else:
        query = (
            "SELECT indexname, indexdef FROM pg_indexes "
            "WHERE tablename = 'requests' AND indexdef LIKE :w"
        )
    return checks, dict(conn.execute(sa.text(query), {"w": "%WHERE%"}).all())


def _lists(check: str) -> bool:
    """Whether a check's text tests a list of values (PostgreSQL writes IN as = ANY (ARRAY))."""
    return " IN (" in check or "ANY (ARRAY" in check


def test_checks_revision_writes_the_checks_without_in_lists_and_back(database_url: str) -> None:
    """0012 writes the state and lane CHECKs as ``=`` tests joined by OR (SQLite built each IN
    list into a temporary table for every row of a bulk insert): the rows, the partial indexes
    and what the checks allow stay as they were; going back to 0011 writes IN lists again."""
    engine = create_engine(database_url)
    rows = "SELECT key, state, lane, attempt_count FROM requests ORDER BY key"
    try:
        _seed_revision_0001(engine)
        command.upgrade(alembic_config(engine), "0011")
        with engine.connect() as conn:
            before = [tuple(r) for r in conn.execute(sa.text(rows))]
            checks_0011, partial_0011 = _checks_and_partial_indexes(conn)
        assert len(checks_0011) == 4
        assert all(map(_lists, checks_0011.values()))
        assert len(partial_0011) == 5
        migrate(engine)
        with engine.connect() as conn:
            assert [tuple(r) for r in conn.execute(sa.text(rows))] == before
            assert conn.execute(sa.text("SELECT count(*) FROM attempts")).scalar() == 2
            checks, partial = _checks_and_partial_indexes(conn)
        assert partial == partial_0011
        assert set(checks) == set(checks_0011)
        for text in checks.values():
            assert not _lists(text)
            assert " OR " in text
        assert "'cancelled'" in checks["ck_requests_state"]
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(sa.text("UPDATE requests SET state = 'lost' WHERE key = 'k0'"))
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(sa.text("UPDATE requests SET lane = 'later' WHERE key = 'k0'"))
        with engine.begin() as conn:  # every state and lane the checks name is still allowed
            conn.execute(sa.text("UPDATE requests SET state = 'in_call', lane = 'flex'"))
        command.downgrade(alembic_config(engine), "0011")
        with engine.connect() as conn:
            checks_back, partial_back = _checks_and_partial_indexes(conn)
        assert set(checks_back) == set(checks_0011)
        assert partial_back == partial_0011
        assert all(map(_lists, checks_back.values()))
        migrate(engine)
    finally:
        engine.dispose()


def test_request_bodies_revision_moves_the_bodies_and_back(database_url: str) -> None:
    """0013 moves each request's body to request_bodies, keyed by its request, and drops the
    column (the partial indexes of requests stay); going back to 0012 puts every body back."""
    engine = create_engine(database_url)
    bodies = "SELECT request_id, body FROM request_bodies ORDER BY request_id"
    try:
        _seed_revision_0001(engine)
        command.upgrade(alembic_config(engine), "0012")
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE requests SET body = '{\"n\": ' || id || '}'"))
            before = [tuple(r) for r in conn.execute(sa.text("SELECT id, body FROM requests"))]
            indexes = {i["name"] for i in sa.inspect(conn).get_indexes("requests")}
        migrate(engine)
        with engine.connect() as conn:
            inspector = sa.inspect(conn)
            columns = {c["name"] for c in inspector.get_columns("requests")}
            assert "body" not in columns
            assert "body_bytes" in columns
            assert {i["name"] for i in inspector.get_indexes("requests")} == indexes
            assert sorted(before) == [tuple(r) for r in conn.execute(sa.text(bodies))]
        command.downgrade(alembic_config(engine), "0012")
        with engine.connect() as conn:
            assert "request_bodies" not in sa.inspect(conn).get_table_names()
            back = conn.execute(sa.text("SELECT id, body FROM requests ORDER BY id")).all()
        assert [tuple(r) for r in back] == sorted(before)
        migrate(engine)
        with engine.connect() as conn:
            assert [tuple(r) for r in conn.execute(sa.text(bodies))] == sorted(before)
    finally:
        engine.dispose()


def _schema(engine: sa.Engine) -> dict[str, object]:
    """Everything that makes up the store's schema, in a form two databases can be compared
    by: per table its columns, keys, foreign keys, unique and check constraints, and each index
    with its columns and (for partial indexes) its WHERE clause, as the database reports them."""
    with engine.connect() as conn:
        inspector = sa.inspect(conn)
        tables = sorted(inspector.get_table_names())
        schema: dict[str, object] = {}
        for table in tables:
            schema[table] = {
                "columns": sorted(
                    (c["name"], str(c["type"]), c["nullable"], c["default"])
                    for c in inspector.get_columns(table)
                ),
                "primary key": inspector.get_pk_constraint(table),
                "foreign keys": sorted(map(repr, inspector.get_foreign_keys(table))),
                "unique": sorted(map(repr, inspector.get_unique_constraints(table))),
                "checks": sorted(map(repr, inspector.get_check_constraints(table))),
            }
        if conn.dialect.name == "sqlite":
            query = "SELECT tbl_name, name, sql FROM sqlite_master WHERE type = 'index'"
            rowid = "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE :w"
            schema["without rowid"] = sorted(
                conn.execute(sa.text(rowid), {"w": "%WITHOUT ROWID%"}).scalars()
            )
        else:
            query = (
                "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
            )
        schema["indexes"] = sorted(tuple(row) for row in conn.execute(sa.text(query)))
    return schema


def test_a_new_store_has_the_schema_of_one_migrated_step_by_step(
    database_url: str, tmp_path: object
) -> None:
    """A new, empty database is made from the tables as they are and marked as at the newest
    migration (one CREATE per table); that must be exactly the schema the migrations build one
    after the other from the first, which every store made by an earlier halfrate goes
    through, and exactly what the tables describe."""
    made = create_engine(database_url)
    try:
        migrate(made)  # an empty database: made from the tables
        with made.connect() as conn:
            assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).all() == [
                (SCHEMA_HEAD,)
            ]
        from_tables = _schema(made)
    finally:
        made.dispose()
    for table in ("requests", "attempts", "request_hashes"):
        assert table in from_tables
    if database_url.startswith("sqlite"):
        stepped_url = f"sqlite:///{tmp_path}/stepped.db"
    else:
        stepped_url = database_url + "_stepped"
        admin = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{stepped_url.rsplit("/", 1)[1]}"'))
        admin.dispose()
    stepped = create_engine(stepped_url)
    try:
        command.upgrade(alembic_config(stepped), "0001")  # not empty now: migrated step by step
        migrate(stepped)
        with stepped.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_server_default": True})
            assert compare_metadata(context, metadata) == []
        assert _schema(stepped) == from_tables
    finally:
        stepped.dispose()
        if not database_url.startswith("sqlite"):
            admin = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                name = stepped_url.rsplit("/", 1)[1]
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def _open_store(url: str) -> str | None:
    """In a process of its own: open the store (making it if new) and say its revision."""
    opened = Store.open(url)
    try:
        with opened.engine.connect() as conn:
            return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        opened.close()


def test_processes_opening_one_new_store_at_once_make_it_once(database_url: str) -> None:
    """Workers started together on a new database: the first makes the schema while the
    others wait for its lock, then find it current; none fails, none makes a table twice."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=3, mp_context=context) as pool:
        revisions = list(pool.map(_open_store, [database_url] * 3))
    assert revisions == [SCHEMA_HEAD] * 3
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar() == 1
            assert "request_hashes" in sa.inspect(conn).get_table_names()
    finally:
        engine.dispose()
