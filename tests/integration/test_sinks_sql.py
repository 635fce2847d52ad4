"""The SQL sink against a real SQLite file and a real PostgreSQL: one row per key with the latest
values, clear failures for unusable tables and unreachable databases, no password stored."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from halfrate.errors import InputError
from halfrate.sinks import Outgoing, Sink, parse_sink
from halfrate.sinks.opening import open_sink
from halfrate.sinks.sql import COLUMNS, result_table, update_then_insert

# The brief's test database; HALFRATE_TEST_SINK_POSTGRES_URL points elsewhere (no password: the
# tests put it in a sink spec).
POSTGRES_URL = os.environ.get(
    "HALFRATE_TEST_SINK_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@dataclass
class Target:
    url: str  # without password
    table: str  # as written in the spec
    engine: sa.Engine  # for looking at what the sink wrote

    @property
    def spec(self) -> str:
        return f"sql:{self.url}#{self.table}"

    def rows(self) -> dict[str, dict[str, Any]]:
        schema, _, name = self.table.rpartition(".")
        table = sa.Table(name, sa.MetaData(), schema=schema or None, autoload_with=self.engine)
        with self.engine.connect() as conn:
            return {row.key: dict(row._mapping) for row in conn.execute(sa.select(table))}


def _postgres_engine() -> sa.Engine:
    engine = sa.create_engine(POSTGRES_URL)
    try:
        with engine.connect():
            pass
    except sa.exc.OperationalError as exc:
        engine.dispose()
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI but unreachable: {exc.orig}")
        pytest.skip(f"PostgreSQL unreachable at {POSTGRES_URL}")
    return engine


@contextlib.contextmanager
def _target(backend: str, folder: Path) -> Iterator[Target]:
    """An unused table name on SQLite or PostgreSQL, its table dropped afterwards."""
    table = f"hr_sink_{secrets.token_hex(5)}"
    if backend == "sqlite":
        url = f"sqlite:///{folder / 'sink.db'}"
        engine = sa.create_engine(url)
    else:
        url = POSTGRES_URL
        engine = _postgres_engine()
    try:
        yield Target(url, table, engine)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    with _target(request.param, tmp_path) as made:
        yield made


@pytest.fixture
def postgres_target(tmp_path: Path) -> Iterator[Target]:
    with _target("postgres", tmp_path) as made:
        yield made


def answer(key: str, text: str) -> Outgoing:
    body = {"type": "message", "content": [{"type": "text", "text": text}]}
    return Outgoing(key, "job-1", f"s1:{key}", "succeeded", 200, orjson.dumps(body).decode(), None)


def refusal(key: str, message: str) -> Outgoing:
    error = orjson.dumps({"code": "invalid_request", "message": message}).decode()
    return Outgoing(key, "job-2", f"s1:{key}", "failed", 400, None, error)


def opened(spec: str) -> Sink:
    return open_sink(parse_sink(spec))


def test_delivering_twice_leaves_one_row_per_key_with_the_latest_values(target: Target) -> None:
    sink = opened(target.spec)
    try:
        first = sink.deliver([answer("a", "first"), refusal("b", "too long")], None)
        assert first.delivered == ["s1:a", "s1:b"]
        assert first.failed == {}
        second = sink.deliver([refusal("a", "now refused"), answer("b", "second")], None)
        assert second.delivered == ["s1:a", "s1:b"]
    finally:
        sink.close()

    rows = target.rows()
    assert set(rows) == {"a", "b"}
    assert set(rows["a"]) == set(COLUMNS)
    a, b = rows["a"], rows["b"]
    assert (a["job_id"], a["status"], a["status_code"]) == ("job-2", "failed", 400)
    assert (a["error_code"], a["error_message"]) == ("invalid_request", "now refused")
    assert a["output_text"] == ""
    assert a["response"] is None
    assert (b["status"], b["status_code"], b["output_text"]) == ("succeeded", 200, "second")
    assert orjson.loads(b["response"])["content"][0]["text"] == "second"
    assert b["error_code"] is None
    assert b["error_message"] is None
    assert isinstance(b["delivered_at"], float)


def test_the_upsert_for_other_databases_keeps_one_row_per_key(target: Target) -> None:
    """Databases without ON CONFLICT get update-then-insert; run it on ours to prove it."""
    table = result_table(target.table, None)
    table.create(target.engine)

    def row(key: str, status: str) -> dict[str, Any]:
        values: dict[str, Any] = dict.fromkeys(COLUMNS)
        return {**values, "key": key, "job_id": "job-1", "status": status, "delivered_at": 1.0}

    with target.engine.begin() as conn:
        update_then_insert(conn, table, [row("a", "failed"), row("b", "succeeded")])
    with target.engine.begin() as conn:
        update_then_insert(conn, table, [row("a", "succeeded"), row("c", "cancelled")])
    rows = target.rows()
    assert {key: value["status"] for key, value in rows.items()} == {
        "a": "succeeded",
        "b": "succeeded",
        "c": "cancelled",
    }


def test_a_key_twice_in_one_delivery_is_one_row(target: Target) -> None:
    sink = opened(target.spec)
    report = sink.deliver([answer("a", "old"), answer("a", "new")], None)
    sink.close()
    assert report.delivered == ["s1:a"]
    assert target.rows()["a"]["output_text"] == "new"


def test_an_unreadable_stored_result_fails_alone(target: Target) -> None:
    sink = opened(target.spec)
    broken = Outgoing("x", "job-1", "s1:x", "succeeded", 200, "{oops", None)
    report = sink.deliver([broken, answer("a", "fine")], None)
    sink.close()
    assert report.delivered == ["s1:a"]
    assert "not valid JSON" in report.failed["s1:x"]
    assert set(target.rows()) == {"a"}


def test_a_table_missing_columns_fails_every_item_and_names_them(target: Target) -> None:
    with target.engine.begin() as conn:
        conn.execute(
            sa.text(f"CREATE TABLE {target.table} (key TEXT PRIMARY KEY, job_id TEXT, status TEXT)")
        )
    sink = opened(target.spec)
    report = sink.deliver([answer("a", "x"), answer("b", "y")], None)
    assert report.delivered == []
    reason = report.failed["s1:a"]
    assert set(report.failed) == {"s1:a", "s1:b"}
    assert f"table {target.table}" in reason
    assert "status_code, output_text, response, error_code, error_message, delivered_at" in reason

    # Fixed by hand: the next delivery checks again and writes.
    with target.engine.begin() as conn:
        for column, kind in [
            ("status_code", "INTEGER"),
            ("output_text", "TEXT"),
            ("response", "TEXT"),
            ("error_code", "TEXT"),
            ("error_message", "TEXT"),
            ("delivered_at", "FLOAT"),
        ]:
            conn.execute(sa.text(f"ALTER TABLE {target.table} ADD COLUMN {column} {kind}"))
    assert sink.deliver([answer("a", "x")], None).delivered == ["s1:a"]
    sink.close()
    assert target.rows()["a"]["output_text"] == "x"


def test_a_table_without_a_unique_key_is_refused(target: Target) -> None:
    columns = ", ".join(f"{name} TEXT" for name in COLUMNS)
    with target.engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {target.table} ({columns})"))
    sink = opened(target.spec)
    report = sink.deliver([answer("a", "x")], None)
    sink.close()
    assert "no primary key or unique constraint on key" in report.failed["s1:a"]


def test_a_unique_index_on_key_is_enough(target: Target) -> None:
    columns = ", ".join(
        f"{name} {'FLOAT' if name == 'delivered_at' else 'TEXT'}" for name in COLUMNS
    )
    with target.engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {target.table} ({columns})"))
        conn.execute(sa.text(f"CREATE UNIQUE INDEX {target.table}_key ON {target.table} (key)"))
    sink = opened(target.spec)
    assert sink.deliver([answer("a", "1")], None).delivered == ["s1:a"]
    assert sink.deliver([answer("a", "2")], None).delivered == ["s1:a"]
    sink.close()
    assert target.rows()["a"]["output_text"] == "2"


def test_sql_env_reads_the_url_when_opened(target: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    url = make_url(target.url)
    if url.get_backend_name() == "postgresql":
        # Trust authentication ignores the password; it stands for a real one that must work
        # from the variable and never show up in a spec or a reason.
        url = url.set(password="hunter2secret")
    monkeypatch.setenv("HALFRATE_TEST_SINK_URL", url.render_as_string(hide_password=False))
    spec = parse_sink(f"sql:env:HALFRATE_TEST_SINK_URL#{target.table}")
    assert "hunter2secret" not in spec.text
    sink = open_sink(spec)
    report = sink.deliver([answer("a", "via env")], None)
    sink.close()
    assert report.delivered == ["s1:a"]
    assert target.rows()["a"]["output_text"] == "via env"


@pytest.mark.postgres
def test_a_schema_qualified_table_on_postgres(postgres_target: Target) -> None:
    target = postgres_target
    qualified = Target(target.url, f"public.{target.table}", target.engine)
    sink = opened(qualified.spec)
    assert sink.deliver([answer("a", "qualified")], None).delivered == ["s1:a"]
    sink.close()
    assert qualified.rows()["a"]["output_text"] == "qualified"


def test_an_unreachable_database_fails_items_without_raising(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "HALFRATE_TEST_SINK_URL", "postgresql+psycopg://app:hunter2secret@127.0.0.1:1/test"
    )
    for spec in (
        "sql:postgresql+psycopg://postgres@127.0.0.1:1/test#results",
        "sql:env:HALFRATE_TEST_SINK_URL#results",
    ):
        sink = opened(spec)
        report = sink.deliver([answer("a", "x"), answer("b", "y")], "cursor-stays")
        sink.close()
        assert report.delivered == []
        assert report.cursor == "cursor-stays"
        assert set(report.failed) == {"s1:a", "s1:b"}
        reason = report.failed["s1:a"]
        assert reason.startswith("cannot reach the database postgresql+psycopg://")
        assert "127.0.0.1:1" in reason
        assert "hunter2secret" not in reason
        assert "\n" not in reason


def test_an_unopenable_sqlite_file_fails_items(tmp_path: Path) -> None:
    sink = opened(f"sql:sqlite:///{tmp_path / 'missing-folder' / 'r.db'}#results")
    report = sink.deliver([answer("a", "x")], None)
    sink.close()
    assert report.failed["s1:a"].startswith("cannot reach the database sqlite:///")


def test_a_password_in_the_url_is_refused() -> None:
    with pytest.raises(InputError) as raised:
        parse_sink("sql:postgresql+psycopg://postgres:hunter2secret@127.0.0.1:5432/test#results")
    assert "sql:env:NAME#results" in str(raised.value)
    assert "hunter2secret" not in str(raised.value)
