"""End to end: the real openai SDK against the sandbox over loopback, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
import sqlalchemy as sa

from halfrate.dispatch import RunMode
from halfrate.sandbox import SandboxServer
from halfrate.sandbox.openai.simulate import simulate
from halfrate.store.tables import attempts, batches, requests, results
from halfrate.tabular.results import result_record
from tests.helpers import CHAT, chat_line, connected, write_jsonl


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(latency=0.0) as server:
        yield server


def table_count(hr: object, table: sa.Table) -> int:
    store = hr.store  # type: ignore[attr-defined]
    with store.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_thousand_requests_split_into_batches_each_result_once(
    database_url: str, sandbox: SandboxServer, tmp_path: Path
) -> None:
    lines = [
        chat_line(f"question-{i:04d}", f"Q{i:04d} {'word ' * (i % 7)}what is {i} squared?")
        for i in range(1000)
    ]
    path = write_jsonl(tmp_path / "thousand.jsonl", lines)
    with connected(database_url, sandbox.base_url, openai_max_batch_lines=150) as (hr, client):
        outcome = hr.submit_file(path, job="thousand")
        assert outcome.created == 1000
        summary = hr.run_worker(RunMode.UNTIL_IDLE, openai_client=client)
        assert summary.exit_reason.value == "idle"
        status = hr.status("thousand")
        assert status.counts == {"succeeded": 1000}
        assert len(status.batches) == 7  # 6 x 150 + 100
        assert {b.state for b in status.batches} == {"ingested"}
        got = list(hr.results("thousand"))
        assert [r.key for r in got] == [line["custom_id"] for line in lines]
        bodies = {line["custom_id"]: line["body"] for line in lines}
        for result in got:
            # Matched by custom_id, not by order (the sandbox shuffles each output file): each
            # answer is exactly what the sandbox gives for *that* request's body.
            expected = simulate(CHAT, bodies[result.key], created=0).body
            assert result.response is not None
            assert result.status_code == 200
            assert result.response["id"] == expected["id"]
            assert result.response["choices"] == expected["choices"]
            assert result.response["usage"] == expected["usage"]
        assert table_count(hr, results) == 1000
        assert table_count(hr, attempts) == 1000
        assert table_count(hr, batches) == 7
        usage = hr.store.reads.job_usage(outcome.job_id)
        assert usage["input_tokens"] > 1000 * 5
        assert usage["output_tokens"] > 0


def test_every_line_failing_completes_with_no_output_file(
    sqlite_url: str, sandbox: SandboxServer, tmp_path: Path
) -> None:
    # Valid batch lines whose bodies the endpoint rejects: OpenAI ends such a batch `completed`
    # with only an error file. Nothing may be read as success, nothing retried.
    lines = [
        {
            "custom_id": f"bad-{i}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {**chat_line("x", f"too many choices {i}")["body"], "n": 1000},
        }
        for i in range(5)
    ]
    path = write_jsonl(tmp_path / "bad.jsonl", lines)
    with connected(sqlite_url, sandbox.base_url) as (hr, client):
        hr.submit_file(path, job="all-bad")
        hr.run_worker(RunMode.UNTIL_IDLE, openai_client=client)
        status = hr.status("all-bad")
        assert status.counts == {"failed": 5}
        assert status.batches[0].provider_status == "completed"
        record = hr.store.queue.get(status.batches[0].id)
        assert record.output_file_id is None
        assert record.error_file_id is not None
        for result in hr.results("all-bad"):
            assert result.status == "failed"
            assert result.status_code == 400
            assert result.error is not None
            assert "'n'" in (result.error["message"] or "")
        assert table_count(hr, attempts) == 5  # failed once each, never retried


def test_mixed_batch_keeps_successes_and_reports_failures(
    sqlite_url: str, sandbox: SandboxServer, tmp_path: Path
) -> None:
    lines = [chat_line(f"ok-{i}", f"fine {i}") for i in range(6)]
    lines.append(
        {
            "custom_id": "broken",
            "method": "POST",
            "url": "/v1/chat/completions",
            # Beyond the provider's limit of choices: a refusal halfrate leaves to it.
            "body": {**chat_line("x", "too many choices")["body"], "n": 1000},
        }
    )
    path = write_jsonl(tmp_path / "mixed.jsonl", lines)
    with connected(sqlite_url, sandbox.base_url) as (hr, client):
        hr.submit_file(path, job="mixed")
        hr.run_worker(RunMode.UNTIL_IDLE, openai_client=client)
        by_key = {r.key: r for r in hr.results("mixed")}
        assert {k for k, r in by_key.items() if r.status == "succeeded"} == {
            f"ok-{i}" for i in range(6)
        }
        assert by_key["broken"].status == "failed"
        assert by_key["broken"].status_code == 400
        # A request still waiting shows its last error; the fast JSONL export (stored JSON text
        # spliced in) must say exactly what the parsed results say, line for line.
        later = write_jsonl(tmp_path / "later.jsonl", [chat_line("later", "x")])
        hr.submit_file(later, job="mixed")
        exported = io.StringIO()
        assert hr.export_results("mixed", exported, "jsonl") == 8
        lines_out = [json.loads(line) for line in exported.getvalue().splitlines()]
        assert lines_out == [result_record(r) for r in hr.results("mixed")]
        assert lines_out[-1]["status"] == "queued"
        # The provider's own code.
        assert lines_out[-2]["error"]["code"] == "integer_above_max_value"


def finished_lines(client: openai.OpenAI, batch_id: str) -> int:
    counts = client.batches.retrieve(batch_id).request_counts
    return counts.completed if counts is not None else 0


def test_cancelled_batch_keeps_finished_lines_and_reruns_the_rest(
    sqlite_url: str, tmp_path: Path
) -> None:
    lines = [chat_line(f"c-{i:03d}", f"cancel test {i}") for i in range(60)]
    path = write_jsonl(tmp_path / "cancel.jsonl", lines)
    with (
        SandboxServer(latency=3.0) as slow,
        connected(sqlite_url, slow.base_url) as (hr, client),
    ):
        hr.submit_file(path, job="cancel")
        hr.run_worker(RunMode.ONCE, openai_client=client)  # packs and submits
        first = hr.status("cancel").batches[0]
        assert first.provider_batch_id is not None
        # Latency 3 s: validating for 1 s, then the lines finish over 1 s. Cancel as soon as
        # some have (waiting for that, not a fixed time: on a busy machine a fixed sleep
        # overshot the second and every line was done before the cancel).
        deadline = time.monotonic() + 30
        while finished_lines(client, first.provider_batch_id) == 0:
            assert time.monotonic() < deadline, "no line of the batch finished in 30 s"
            time.sleep(0.02)
        client.batches.cancel(first.provider_batch_id)
        hr.run_worker(RunMode.UNTIL_IDLE, openai_client=client)
        status = hr.status("cancel")
        assert status.counts == {"succeeded": 60}
        assert len(status.batches) == 2
        first_record = hr.store.queue.get(first.id)
        assert first_record.provider_status == "cancelled"
        with hr.store.read() as conn:
            kept = conn.execute(
                sa.select(sa.func.count())
                .select_from(attempts)
                .where(attempts.c.batch_id == first.id, attempts.c.outcome == "succeeded")
            ).scalar_one()
        second_size = status.batches[1].request_count
        assert kept > 0  # finished lines of the cancelled batch were kept, not re-sent
        assert kept + second_size == 60


def test_expired_batches_keep_finished_lines_and_rerun_only_the_rest(
    database_url: str, tmp_path: Path
) -> None:
    # Batches expire halfway through processing, as a 24 h window does for a batch that is too
    # big: part of the output is done (and paid), the rest is `batch_expired`. Lines that never
    # ran were not tried: they go again without spending an attempt, so with an attempt cap of
    # 1 every request still ends succeeded.
    lines = [chat_line(f"e-{i:03d}", f"expiry test {i}") for i in range(40)]
    path = write_jsonl(tmp_path / "expire.jsonl", lines)
    with (
        SandboxServer(faults="expire_partway=0.5,seed=2") as expiring,
        connected(database_url, expiring.base_url, max_attempts=1) as (hr, client),
    ):
        hr.submit_file(path, job="expire")
        hr.run_worker(RunMode.UNTIL_IDLE, openai_client=client)
        status = hr.status("expire")
        errors = [r.error for r in hr.results("expire") if r.error]
        assert status.counts == {"succeeded": 40}, errors  # none lost, none given up
        assert len(status.batches) >= 2
        assert status.batches[0].provider_status == "expired"
        assert status.batches[-1].provider_status == "completed"
        with hr.store.read() as conn:
            succeeded_per_request = conn.execute(
                sa.select(attempts.c.request_id, sa.func.count())
                .where(attempts.c.outcome == "succeeded")
                .group_by(attempts.c.request_id)
            ).all()
            kept: dict[str, int] = dict(
                conn.execute(
                    sa.select(attempts.c.batch_id, sa.func.count())
                    .where(attempts.c.outcome == "succeeded")
                    .group_by(attempts.c.batch_id)
                ).all()
            )
            spent = set(conn.execute(sa.select(requests.c.attempt_count)).scalars())
        assert {n for _, n in succeeded_per_request} == {1}  # never succeeded twice
        assert len(succeeded_per_request) == 40
        assert spent == {1}  # only the try that ran counts
        assert 0 < kept[status.batches[0].id] < 40  # finished lines of the expired batch kept
        # Only what did not finish went into the next batch, and so on.
        left = 40
        for batch in status.batches:
            assert batch.request_count == left
            left -= kept.get(batch.id, 0)
        assert left == 0


def test_a_request_that_never_runs_fails_at_the_unrun_cap(
    database_url: str, tmp_path: Path
) -> None:
    # A provider that never runs a line (missing from every output) must not keep it in the
    # queue for ever: past HALFRATE_MAX_UNRUN_REQUEUES returns it fails, saying why.
    path = write_jsonl(tmp_path / "never.jsonl", [chat_line("never", "never runs")])
    settings = {"max_attempts": 1, "max_unrun_requeues": 3}
    with (
        SandboxServer(faults="missing_lines=1") as sandbox,
        connected(database_url, sandbox.base_url, **settings) as (hr, client),
    ):
        hr.submit_file(path, job="never")
        hr.run_worker(RunMode.UNTIL_IDLE, openai_client=client)
        status = hr.status("never")
        assert status.counts == {"failed": 1}
        assert len(status.batches) == 3
        (result,) = hr.results("never")
        assert result.error is not None
        assert result.error["code"] == "missing_output"
        assert result.error["message"].startswith("never ran in 3 batches; last: ")
