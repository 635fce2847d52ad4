"""Write-back through the worker: every result of a job reaches each of its sinks once, whatever
is redelivered; a failing sink is tried again; a sink added late gets what was there already;
status shows what is not delivered yet; a bad sink stores nothing."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from halfrate.dispatch import RunMode
from halfrate.errors import InputError
from halfrate.models import RequestSpec, Result
from halfrate.sandbox import SandboxServer
from halfrate.store.tables import deliveries, jobs, sinks
from tests.helpers import CHAT, connected
from tests.integration.test_sinks_sql import Target, _target
from tests.integration.test_sinks_webhook import Receiver, receiver

__all__ = ["receiver"]  # the fixture, shared with the webhook sink's own tests


def specs(n: int, prefix: str = "k") -> list[RequestSpec]:
    return [
        RequestSpec(
            f"{prefix}{i}",
            CHAT,
            {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"q{prefix}{i}"}]},
        )
        for i in range(n)
    ]


def jsonl_keys(path: Path) -> list[str]:
    return [json.loads(line)["custom_id"] for line in path.read_text().splitlines()]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def table(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    with _target(request.param, tmp_path) as made:
        yield made


def test_each_result_reaches_every_sink_once_even_when_delivered_again(
    database_url: str, tmp_path: Path, table: Target
) -> None:
    seen: dict[str, list[Result]] = {}
    out_jsonl, out_csv = tmp_path / "out.jsonl", tmp_path / "out.csv"
    with (
        SandboxServer() as server,
        connected(database_url, server.base_url, openai_max_batch_lines=40) as (hr, client),
    ):
        hr.callbacks["collect"] = lambda r: seen.setdefault(r.key, []).append(r)
        sink_specs = [str(out_jsonl), f"csv:{out_csv}", table.spec, "callback:collect"]
        hr.submit(specs(100), job="wb", sinks=sink_specs)
        summary = hr.run_worker(RunMode.UNTIL_IDLE, openai_client=client)
        assert summary.delivered == 400
        status = hr.status("wb")
        assert status.undelivered == 0
        assert [(s.delivered, s.pending) for s in status.sinks] == [(100, 0)] * 4

        # A crash after the sinks got the results but before halfrate recorded it (the outbox
        # and the cursors as they were before): everything is delivered again. Files rewind
        # to the committed cursor; SQL upserts by key.
        with hr.store.write() as conn:
            conn.execute(sa.update(deliveries).values(delivered_at=None, tries=0))
            conn.execute(sa.update(sinks).values(cursor=None))
        hr.run_worker(RunMode.UNTIL_IDLE, openai_client=client)

    expected = [f"k{i}" for i in range(100)]
    assert sorted(jsonl_keys(out_jsonl)) == sorted(expected)
    with out_csv.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(r["custom_id"] for r in rows) == sorted(expected)
    assert all(r["status"] == "succeeded" and r["output_text"] for r in rows)
    stored = table.rows()
    assert sorted(stored) == sorted(expected)
    assert {row["status"] for row in stored.values()} == {"succeeded"}
    # The callback is at least once (documented): it got every key, each time the same answer.
    assert sorted(seen) == sorted(expected)
    assert all(len({json.dumps(r.response) for r in got}) == 1 for got in seen.values())


def test_a_failing_webhook_is_tried_again_with_the_same_key(
    database_url: str, receiver: Receiver
) -> None:
    receiver.fail_first = {"k1", "k4"}
    with SandboxServer() as server, connected(database_url, server.base_url) as (hr, client):
        hr.submit(specs(6), job="hook", sinks=[f"{receiver.base_url}/results"])
        summary = hr.run_worker(RunMode.UNTIL_IDLE, openai_client=client)
        assert summary.delivered == 6
        assert summary.delivery_failures == 2
        assert hr.status("hook").undelivered == 0
    for key in ("k1", "k4"):
        tries = receiver.tries(key)
        assert len(tries) == 2
        assert len({t.headers["idempotency-key"] for t in tries}) == 1
    assert sorted({r.key for r in receiver.received}) == [f"k{i}" for i in range(6)]


def test_a_sink_added_after_the_results_gets_them_and_status_shows_what_waits(
    database_url: str, tmp_path: Path
) -> None:
    with SandboxServer() as server, connected(database_url, server.base_url) as (hr, client):
        hr.submit(specs(5), job="late")
        hr.run_worker(RunMode.UNTIL_IDLE, openai_client=client)
        late = tmp_path / "late.jsonl"
        hr.add_sink("late", str(late))
        hr.add_sink("late", str(late))  # the same sink twice is one sink
        hr.add_sink("late", "callback:elsewhere")  # served by another process
        assert hr.status("late").undelivered == 10
        summary = hr.run_worker(RunMode.UNTIL_IDLE, openai_client=client)
        assert summary.exit_reason.value == "idle"  # does not wait for another process's sink
        status = hr.status("late")
        assert sorted(jsonl_keys(late)) == [f"k{i}" for i in range(5)]
        waiting = {s.spec: s for s in status.sinks}["callback:elsewhere"]
        assert (waiting.pending, waiting.delivered) == (5, 0)
        assert waiting.last_error is not None
        assert "not registered" in waiting.last_error
        assert status.undelivered == 5


@pytest.mark.parametrize(
    ("sink", "problem"),
    [
        ("ftp://example.com/x", "ftp"),
        ("sql:postgresql://u:hunter2xyz@db/x#t", "environment variable"),
        ("results.txt", "sink"),
        ("", "empty"),
    ],
)
def test_a_bad_sink_stores_nothing(database_url: str, sink: str, problem: str) -> None:
    with SandboxServer() as server, connected(database_url, server.base_url) as (hr, _):
        with pytest.raises(InputError, match=problem) as caught:
            hr.submit(specs(2), job="bad", sinks=[sink])
        assert "hunter2xyz" not in str(caught.value)
        with hr.store.read() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(jobs)).scalar() == 0
            assert conn.execute(sa.select(sa.func.count()).select_from(sinks)).scalar() == 0
