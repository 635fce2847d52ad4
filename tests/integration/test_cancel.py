"""`halfrate cancel JOB`: queued requests end cancelled at once, the job's provider batches are
cancelled, what finished is kept, nothing is sent again, and other jobs are untouched."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from halfrate.dispatch import RunMode
from halfrate.errors import InputError
from halfrate.models import RequestSpec
from halfrate.sandbox import SandboxServer
from halfrate.store.tables import batches, requests, results
from tests.helpers import CHAT, chat_line, connected, write_jsonl
from tests.integration.test_cli import assert_one_line_error, run


def specs(prefix: str, n: int) -> list[RequestSpec]:
    return [
        RequestSpec(
            f"{prefix}{i}",
            CHAT,
            {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"{prefix} {i}"}]},
        )
        for i in range(n)
    ]


def charged(server: SandboxServer) -> dict[str, int]:
    counts: dict[str, int] = {}
    for entry in server.app.state.sandbox.ledger.entries():
        if entry["charged"]:
            counts[entry["custom_id"]] = counts.get(entry["custom_id"], 0) + 1
    return counts


def test_cancel_ends_queued_cancels_batches_keeps_finished_and_spares_other_jobs(
    database_url: str,
) -> None:
    with (
        SandboxServer(latency=3.0, cancel_latency=0.2) as server,
        connected(database_url, server.base_url, openai_max_batch_lines=20) as (hr, client),
    ):
        hr.openai_client = client  # for cancel_batches_now
        hr.submit(specs("done", 5), job="doomed")
        hr.run_worker(RunMode.UNTIL_IDLE, openai_client=client)  # five finish before the cancel
        hr.submit(specs("late", 40), job="doomed")
        hr.submit(specs("other", 10), job="spared")
        hr.run_worker(RunMode.ONCE, openai_client=client)  # two doomed batches, one spared
        hr.submit(specs("queued", 7), job="doomed")  # still queued at the cancel

        outcome = hr.cancel("doomed")
        assert (outcome.cancelled, outcome.in_flight, outcome.finished) == (7, 40, 5)
        assert outcome.batches == 2
        assert hr.cancel_batches_now() == 2

        summary = hr.run_worker(RunMode.UNTIL_IDLE, openai_client=client)
        assert summary.exit_reason.value == "idle"
        doomed, spared = hr.status("doomed"), hr.status("spared")
        assert doomed.done
        assert doomed.cancelled_at is not None
        assert doomed.counts.get("succeeded", 0) >= 5  # finished before the cancel: kept
        assert doomed.counts.get("cancelled", 0) >= 7
        assert sum(doomed.counts.values()) == 52
        assert spared.counts == {"succeeded": 10}
        with hr.store.read() as conn:
            states = set(
                conn.execute(
                    sa.select(batches.c.provider_status).where(
                        batches.c.provider_batch_id.is_not(None)
                    )
                ).scalars()
            )
            landed = conn.execute(sa.select(sa.func.count()).select_from(results)).scalar_one()
        assert "cancelled" in states
        assert landed == 62  # one result per request, cancelled ones included
        # Nothing of the cancelled job went to the provider again, nothing was paid twice.
        assert all(n == 1 for n in charged(server).values())
        cancelled = [r for r in hr.results("doomed") if r.status == "cancelled"]
        assert all(r.error and r.error["code"] for r in cancelled)


def test_a_batch_shared_with_a_live_job_runs_on(database_url: str) -> None:
    with (
        SandboxServer(latency=0.5) as server,
        connected(database_url, server.base_url) as (hr, client),
    ):
        hr.submit(specs("a", 4), job="mine")
        hr.submit(specs("b", 4), job="theirs")
        hr.run_worker(RunMode.ONCE, openai_client=client)  # one batch holds both jobs
        outcome = hr.cancel("mine")
        assert (outcome.cancelled, outcome.in_flight, outcome.batches) == (0, 4, 0)
        hr.run_worker(RunMode.UNTIL_IDLE, openai_client=client)
        assert hr.status("mine").counts == {"succeeded": 4}  # finished work is kept
        assert hr.status("theirs").counts == {"succeeded": 4}


def test_a_cancelled_job_takes_no_more_requests_and_cancel_is_repeatable(
    database_url: str,
) -> None:
    with SandboxServer() as server, connected(database_url, server.base_url) as (hr, _):
        hr.submit(specs("x", 3), job="gone")
        assert hr.cancel("gone").cancelled == 3
        assert hr.cancel("gone").cancelled == 0
        with pytest.raises(InputError, match="was cancelled"):
            hr.submit(specs("y", 1), job="gone")
        with hr.store.read() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(requests)).scalar() == 3


def test_cli_cancel_prints_what_happened(database_url: str, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "j.jsonl", [chat_line(f"k{i}", f"q{i}") for i in range(3)])
    env = {"HALFRATE_DATABASE_URL": database_url}
    submitted = run("submit", str(path), "--job", "cli-job", env=env)
    assert submitted.returncode == 0, submitted.stderr
    done = run("cancel", "cli-job", env=env)
    assert done.returncode == 0, done.stderr
    assert "3 queued requests cancelled" in done.stdout
    assert_one_line_error(run("cancel", "no-such-job", env=env), "no job with id or name")
