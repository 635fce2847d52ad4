"""Crash recovery at the riskiest instant, clean stops, and the Python API's own checks."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from halfrate import RequestSpec
from halfrate.dispatch import RunMode
from halfrate.dispatch.packing import write_batch_file
from halfrate.errors import IdempotencyConflict, InputError
from halfrate.models import BatchState
from halfrate.providers.base import METADATA_KEY, Limits
from halfrate.providers.openai import OpenAIBatchProvider
from halfrate.sandbox import SandboxServer
from halfrate.store.tables import attempts, batches
from tests.helpers import (
    CHAT,
    chat_line,
    claim,
    connected,
    fast_halfrate,
    recorded_batch_ids,
    sdk_client,
    write_jsonl,
)
from tests.integration.test_cli import run


def test_create_that_reached_the_provider_before_a_crash_is_not_repeated(
    database_url: str, tmp_path: Path
) -> None:
    """The worker died after `create` reached the provider but before the answer was recorded.
    On restart it must find that batch by our id in metadata instead of creating a second one."""
    path = write_jsonl(tmp_path / "r.jsonl", [chat_line(f"k{i}", f"q {i}") for i in range(12)])
    with (
        SandboxServer(latency=0.0) as sandbox,
        connected(database_url, sandbox.base_url) as (hr, client),
    ):
        hr.submit_file(path, job="crash")
        batch = claim(hr.store)
        # Replay exactly what the crashed worker did, up to the lost answer.
        provider = OpenAIBatchProvider(client, Limits(100, 10**9))
        file_path = write_batch_file(hr.store, provider, batch, tmp_path / "spool")
        file_id = provider.stage(file_path)
        hr.store.queue.update(batch.id, input_file_id=file_id, create_started_at=time.time())
        remote = provider.create(batch.id, CHAT, file_id)
        # ...crash: `remote.id` was never recorded. Restart:
        summary = hr.run_worker(RunMode.UNTIL_IDLE, openai_client=client)
        assert summary.lines.succeeded == 12
        record = hr.store.queue.get(batch.id)
        assert record.provider_batch_id == remote.id
        assert record.state == BatchState.INGESTED.value
        ours = [
            b
            for b in client.batches.list(limit=100)
            if (b.metadata or {}).get(METADATA_KEY) == batch.id
        ]
        assert len(ours) == 1  # created at the provider exactly once
        with hr.store.read() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(batches)).scalar_one() == 1


def recorded_batches(db: Path) -> set[str]:
    engine = sa.create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            return recorded_batch_ids(conn) if sa.inspect(conn).has_table("batches") else set()
    finally:
        engine.dispose()


def test_worker_stops_cleanly_on_sigterm(tmp_path: Path, isolated_env: Path) -> None:
    path = write_jsonl(tmp_path / "r.jsonl", [chat_line(f"k{i}", f"q {i}") for i in range(5)])
    with SandboxServer(latency=60.0) as sandbox:  # batches stay in flight while we stop it
        env = {
            **os.environ,
            "OPENAI_BASE_URL": sandbox.base_url,
            "OPENAI_API_KEY": "sandbox",
            "HALFRATE_POLL_INITIAL_SECONDS": "0.1",
            "HALFRATE_WORKER_IDLE_SECONDS": "0.1",
        }
        assert run("submit", str(path), env=env).returncode == 0
        worker = subprocess.Popen(
            [sys.executable, "-m", "halfrate", "worker"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        # SIGTERM once its batch is created and recorded, in flight for a minute: however long
        # the process took to start on a busy machine.
        deadline = time.monotonic() + 60
        while not recorded_batches(isolated_env / "halfrate.db"):
            if worker.poll() is not None:
                pytest.fail(f"the worker ended before creating its batch: {worker.communicate()}")
            if time.monotonic() > deadline:
                worker.kill()
                pytest.fail(f"no batch recorded in 60 s: {worker.communicate()}")
            time.sleep(0.05)
        worker.send_signal(signal.SIGTERM)
        stdout, stderr = worker.communicate(timeout=30)
    assert worker.returncode == 0, stderr
    assert "worker stopped (stopped)" in stdout
    assert "1 batch submitted" in stdout
    assert "Traceback" not in stderr


def spec(key: str, content: str = "hi", **body: object) -> RequestSpec:
    return RequestSpec(
        key=key,
        endpoint=CHAT,
        body={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}], **body},
    )


def test_python_submit_and_results(sqlite_url: str) -> None:
    with SandboxServer() as sandbox, connected(sqlite_url, sandbox.base_url) as (hr, client):
        outcome = hr.submit([spec("a"), spec("b", "hello")], job="py", feature="evals")
        assert (outcome.created, outcome.existing) == (2, 0)
        assert hr.submit([spec("a")], job="py").existing == 1
        hr.run_worker(openai_client=client)
        got = {r.key: r for r in hr.results("py")}
        assert set(got) == {"a", "b"}
        assert all(r.status == "succeeded" for r in got.values())
        assert hr.status("py").feature == "evals"


@pytest.mark.parametrize(
    ("requests", "message"),
    [
        ([], "no requests"),
        ([spec("a"), spec("a")], "request 3: duplicate key 'a'"),
        ([spec("")], "request 2: 'custom_id' must be a non-empty string"),
        ([spec("a", stream=True)], "'body.stream' is true"),
        ([RequestSpec("a", "/v1/nope", {"model": "m"})], "not a Batch API endpoint"),
    ],
)
def test_python_submit_rejects_bad_requests_whole(
    sqlite_url: str, requests: list[RequestSpec], message: str
) -> None:
    hr = fast_halfrate(sqlite_url)
    try:
        with pytest.raises(InputError, match=re.escape(message)):
            hr.submit([spec("fine"), *requests] if requests else [], job="bad")
        assert hr.jobs() == []
    finally:
        hr.close()


def test_python_submit_conflict_keeps_the_first_request(sqlite_url: str) -> None:
    hr = fast_halfrate(sqlite_url)
    try:
        hr.submit([spec("a", "one")], job="j")
        with pytest.raises(IdempotencyConflict):
            hr.submit([spec("b"), spec("a", "two")], job="j")
        assert hr.status("j").total == 1
    finally:
        hr.close()


def test_two_workers_on_one_store_never_create_a_batch_twice(
    database_url: str, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "r.jsonl", [chat_line(f"k{i:03d}", f"q {i}") for i in range(300)])
    with SandboxServer(latency=0.5) as sandbox:
        submitter = fast_halfrate(database_url, openai_max_batch_lines=25)
        submitter.submit_file(path, job="two-workers")
        summaries = []
        errors: list[BaseException] = []

        def work() -> None:
            settings = {"openai_max_batch_lines": 25}
            try:
                with connected(database_url, sandbox.base_url, **settings) as (hr, client):
                    summaries.append(hr.run_worker(RunMode.UNTIL_IDLE, openai_client=client))
            except BaseException as exc:  # handed to the test thread, which asserts none
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not errors
        client = sdk_client(sandbox.base_url)
        try:
            at_provider = [b for b in client.batches.list(limit=100)]
        finally:
            client.close()
        status = submitter.status("two-workers")
        try:
            assert status.counts == {"succeeded": 300}
            assert len(status.batches) == 12
            # Each local batch exists exactly once at the provider.
            assert len(at_provider) == 12
            assert {b.provider_batch_id for b in status.batches} == {b.id for b in at_provider}
            with submitter.store.read() as conn:
                per_request = (
                    conn.execute(
                        sa.select(sa.func.count())
                        .select_from(attempts)
                        .group_by(attempts.c.request_id)
                    )
                    .scalars()
                    .all()
                )
            assert sorted(set(per_request)) == [1]
            assert len(per_request) == 300
            assert sum(s.batches_submitted for s in summaries) == 12
        finally:
            submitter.close()
