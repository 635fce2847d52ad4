"""The Anthropic batch lane end to end: the official ``anthropic`` SDK against a loopback
sandbox, on SQLite and PostgreSQL. Models mixed in one batch, split at the request limit, the
four result types, and a create that reached the provider before a crash never repeated."""

from __future__ import annotations

import time
from pathlib import Path

import anthropic
import orjson
import sqlalchemy as sa

from halfrate import RequestSpec
from halfrate.dispatch.packing import write_batch_file
from halfrate.models import BatchState
from halfrate.providers.anthropic import AnthropicBatchProvider
from halfrate.providers.base import Limits
from halfrate.records import Group
from halfrate.sandbox import SandboxServer
from halfrate.store.request_bodies import request_bodies
from halfrate.store.tables import attempts, batches, results
from tests.helpers import MESSAGES_ENDPOINT, claude_line, claude_params, lanes, write_jsonl

MODELS = ("claude-haiku-4-5", "claude-sonnet-4-6", "claude-opus-4-6")


def charged_lines(server: SandboxServer) -> list[str]:
    entries = server.app.state.sandbox.ledger.entries()
    return [str(e["custom_id"]) for e in entries if e["charged"] and e["kind"] == "batch"]


def test_mixed_models_split_at_the_limit_each_result_once(
    database_url: str, tmp_path: Path
) -> None:
    lines = [
        claude_line(f"ticket #{i} / résumé", f"Summarise ticket {i}", MODELS[i % 3])
        for i in range(250)
    ]
    path = write_jsonl(tmp_path / "claude.jsonl", lines)
    with (
        SandboxServer(latency=0.3) as server,
        lanes(database_url, server, anthropic_max_batch_lines=100) as hr,
    ):
        job = hr.submit_file(path, job="claude", deadline="2d")
        summary = hr.run_worker()
        assert summary.lines.succeeded == 250
        status = hr.status("claude")
        assert status.counts == {"succeeded": 250}
        assert [b.request_count for b in status.batches] == [100, 100, 50]
        assert all((b.provider_batch_id or "").startswith("msgbatch_") for b in status.batches)
        assert all(set(b.model.split(", ")) == set(MODELS) for b in status.batches)
        assert {b.provider_status for b in status.batches} == {"ended"}
        # Each answer belongs to its own request (results come back shuffled).
        direct = anthropic.Anthropic(api_key="x", base_url=server.root_url)
        for result in list(hr.results(job.job_id))[:6]:
            i = int(result.key.split("#")[1].split(" ")[0])
            asked = claude_params(f"Summarise ticket {i}", MODELS[i % 3])
            expected = direct.messages.create(**asked).to_dict()
            assert result.response is not None
            assert result.response["content"] == expected["content"]
            assert result.response["usage"]["service_tier"] == "batch"
        direct.close()
        ours = charged_lines(server)
        assert len(ours) == len(set(ours)) == 250  # every line billed exactly once
        with hr.store.read() as conn:
            lanes_used = conn.execute(sa.select(attempts.c.lane).distinct()).scalars().all()
        assert lanes_used == ["batch"]


def test_a_request_the_provider_refuses_fails_with_its_reason(
    database_url: str, tmp_path: Path
) -> None:
    lines = [claude_line(f"ok-{i}", f"question {i}") for i in range(5)]
    # Valid in shape, refused by the provider: this API version removed temperature.
    lines.append(claude_line("refused", "question x", temperature=0.2))
    path = write_jsonl(tmp_path / "refused.jsonl", lines)
    with SandboxServer(latency=0.2) as server, lanes(database_url, server) as hr:
        hr.submit_file(path, job="refused")
        hr.run_worker()
        by_key = {r.key: r for r in hr.results("refused")}
        refused = by_key.pop("refused")
        assert refused.status == "failed"
        assert refused.error is not None
        assert refused.error["code"] == "invalid_request_error"
        assert "temperature" in str(refused.error["message"])
        assert {r.status for r in by_key.values()} == {"succeeded"}
        assert len(charged_lines(server)) == 5  # an errored request is not billed
        with hr.store.read() as conn:  # ...and it was not tried again
            tries = conn.execute(sa.select(sa.func.count()).select_from(attempts)).scalar()
        assert tries == 6


def test_expired_requests_keep_what_finished_and_retry_the_rest(
    database_url: str, tmp_path: Path
) -> None:
    lines = [claude_line(f"ok-{i}", f"question {i}") for i in range(20)]
    path = write_jsonl(tmp_path / "kinds.jsonl", lines)
    with (
        SandboxServer(latency=2.0, window=1.0) as server,  # expires halfway: partial results
        # Lines that never ran go again without spending an attempt; a batch this slow for its
        # window never runs a small remainder, so the unrun cap ends them after three batches.
        lanes(database_url, server, max_attempts=3, max_unrun_requeues=3) as hr,
    ):
        hr.submit_file(path, job="kinds")
        hr.run_worker()
        by_key = {r.key: r for r in hr.results("kinds")}
        assert {r.status for r in by_key.values()} <= {"succeeded", "failed"}  # none lost
        with hr.store.read() as conn:
            rows = conn.execute(
                sa.select(attempts.c.request_id, attempts.c.outcome, attempts.c.error_code)
            ).all()
        expired = [r for r in rows if r.error_code == "expired"]
        assert expired, "a window shorter than the batch leaves requests expired"
        assert all(r.outcome in ("retry", "failed") for r in expired)
        succeeded = [r.request_id for r in rows if r.outcome == "succeeded"]
        assert len(succeeded) == len(set(succeeded))  # kept once, never re-run
        assert sorted(charged_lines(server)) == sorted(set(charged_lines(server)))
        assert len(charged_lines(server)) == len(succeeded)  # expired/errored cost nothing


def test_a_create_that_reached_anthropic_before_a_crash_is_not_repeated(
    database_url: str,
) -> None:
    with SandboxServer(latency=0.2) as server, lanes(database_url, server) as hr:
        specs = [
            RequestSpec(f"k{i}", MESSAGES_ENDPOINT, claude_params(f"q {i}"), provider="anthropic")
            for i in range(12)
        ]
        hr.submit(specs, job="crash")
        batch = hr.store.queue.claim_batch(
            Group("anthropic", MESSAGES_ENDPOINT, None),
            max_lines=100,
            max_bytes=10**9,
            line_overhead=60,
            now=time.time(),
        )
        assert batch is not None
        assert hr.anthropic_client is not None
        provider = AnthropicBatchProvider(hr.anthropic_client, Limits(100, 10**9))
        spool = hr.settings.resolved_home / "spool"
        path = write_batch_file(hr.store, provider, batch, spool)
        hr.store.queue.update(batch.id, create_started_at=time.time())
        remote = provider.create(batch.id, MESSAGES_ENDPOINT, provider.stage(path))
        # ...crash: remote.id was never recorded. Restart:
        summary = hr.run_worker()
        assert summary.lines.succeeded == 12
        record = hr.store.queue.get(batch.id)
        assert record.provider_batch_id == remote.id
        assert record.state == BatchState.INGESTED.value
        listed = list(hr.anthropic_client.messages.batches.list(limit=100))
        assert len(listed) == 1  # created at the provider exactly once
        with hr.store.read() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(batches)).scalar_one() == 1
            assert conn.execute(sa.select(sa.func.count()).select_from(results)).scalar_one() == 12
            bodies = conn.execute(sa.select(request_bodies.c.body)).scalars().all()
        assert all(orjson.loads(b)["model"] == "claude-haiku-4-5" for b in bodies)
        assert len(charged_lines(server)) == 12
