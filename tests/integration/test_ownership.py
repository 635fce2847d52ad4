"""Who owns a piece of work, and what happens when ownership is lost: batch-step leases and
their renewal, takes that only count what they moved, stale calls taken back once, the deadline
guard leaving alone a batch that may already exist at the provider, and a call whose answer
cannot be read ending as a retry instead of taking its neighbours down."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx2
import openai
import pytest
import sqlalchemy as sa

from halfrate import RequestSpec
from halfrate.dispatch import steps
from halfrate.dispatch.lease import LeaseKeeper
from halfrate.dispatch.sync_call import run_call
from halfrate.models import BatchState, Lane, Verdict
from halfrate.providers.base import Limits
from halfrate.providers.openai import OpenAIBatchProvider
from halfrate.providers.openai_calls import OpenAICaller
from halfrate.records import ClaimedCall, CreateStart
from halfrate.retry import CallPolicy
from halfrate.routing.policy_file import parse_policy
from halfrate.sandbox import SandboxServer
from halfrate.store.tables import batches, requests
from tests.helpers import CHAT, claim, connected, lanes

GUARD_POLICY = parse_policy(
    '[settings]\nbatch_window = "1s"\nsafety_margin = "2s"\n\n'
    '[[rule]]\nname = "Batch"\nwhen = { deadline = "at least window" }\nlane = "batch"\n\n'
    '[[rule]]\nname = "Now"\nlane = "realtime"\n',
    "guard.toml",
)


def chat_specs(n: int) -> list[RequestSpec]:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}
    return [RequestSpec(f"k{i}", CHAT, {**body, "user": f"u{i}"}) for i in range(n)]


def test_a_batch_step_is_held_by_one_worker_and_renewed_while_it_runs(database_url: str) -> None:
    with SandboxServer() as server, connected(database_url, server.base_url) as (hr, _):
        hr.submit(chat_specs(3), job="lease")
        batch = claim(hr.store)
        first = hr.store.queue.take_step(batch, batch.next_poll_at or 0.0, 0.3)
        assert first is not None
        # A second worker that read the same due time gets nothing.
        assert hr.store.queue.take_step(batch, batch.next_poll_at or 0.0, 0.3) is None
        keeper = LeaseKeeper(hr.store.queue, 0.3)
        try:
            keeper.hold(batch.id, first)
            time.sleep(1.0)  # three lease lengths: without renewal it would have run out
            held_until = hr.store.queue.get(batch.id).next_poll_at
            assert held_until is not None
            assert held_until > time.time()
            assert keeper.confirm(batch.id)
        finally:
            keeper.close()


def test_a_worker_that_lost_its_step_does_not_create_the_batch(database_url: str) -> None:
    with SandboxServer() as server, connected(database_url, server.base_url) as (hr, client):
        hr.submit(chat_specs(3), job="fenced")
        batch = claim(hr.store)
        held = hr.store.queue.take_step(batch, batch.next_poll_at or 0.0, 60.0)
        assert held is not None
        keeper = LeaseKeeper(hr.store.queue, 60.0)
        keeper.hold(batch.id, held)
        # Another worker takes the step over (this one stalled past its lease).
        hr.store.queue.update(batch.id, next_poll_at=held + 1.0)
        provider = OpenAIBatchProvider(client, Limits(50_000, 200_000_000))
        ctx = steps.StepContext(hr.store, hr.settings, hr.settings.resolved_home, leases=keeper)
        try:
            assert steps.submit(ctx, provider, hr.store.queue.get(batch.id)) is False
        finally:
            keeper.close()
        assert list(client.batches.list()) == []
        record = hr.store.queue.get(batch.id)
        assert record.state == BatchState.PENDING.value
        assert record.create_started_at is None


def test_a_stale_call_is_taken_back_once_and_a_fresh_one_not_at_all(database_url: str) -> None:
    with SandboxServer() as server, connected(database_url, server.base_url) as (hr, _):
        hr.submit(chat_specs(2), job="calls", waiting=True)
        now = time.time()
        taken = hr.store.calls.claim(10, 30.0, now)
        assert len(taken) == 2
        stale = taken[0].request_id
        with hr.store.write() as conn:
            conn.execute(
                sa.update(requests).where(requests.c.id == stale).values(lease_until=now - 1)
            )
        assert hr.store.calls.requeue_stale(time.time()) == 1
        assert hr.store.calls.requeue_stale(time.time()) == 0
        again = hr.store.calls.claim(10, 30.0, time.time())
        assert [c.request_id for c in again] == [stale]
        # Nothing else can take what is already in a call.
        assert hr.store.calls.claim(10, 30.0, time.time()) == []


def test_calling_a_key_queued_for_a_batch_runs_it_in_realtime(database_url: str) -> None:
    with SandboxServer() as server, lanes(database_url, server) as hr:
        spec = chat_specs(1)[0]
        hr.submit([spec], job="calls")  # no deadline, nobody waiting: batch lane
        answer = hr.call(spec, job="calls")
        assert answer.lane == Lane.REALTIME.value
        with hr.store.read() as conn:
            lane = conn.execute(sa.select(requests.c.lane)).scalar_one()
        assert lane == Lane.REALTIME.value


def test_the_guard_leaves_a_batch_alone_that_may_exist_at_the_provider(database_url: str) -> None:
    with SandboxServer() as server, lanes(database_url, server, policy=GUARD_POLICY) as hr:
        hr.submit(chat_specs(2), job="tight", deadline="4s")
        batch = claim(hr.store)
        assert batch.request_count == 2
        hr.store.queue.update(batch.id, create_started_at=time.time())
        later = time.time() + 3.0  # past the guard time (deadline - 2 s)
        urgent = hr.store.guard.urgent_batches(later)
        assert [u.batch_id for u in urgent] == [batch.id]
        assert hr.store.guard.detach_pending(batch.id, urgent[0].urgent, later) == 0
        # Without a create tried, the requests leave and the emptied batch is abandoned.
        hr.store.queue.update(batch.id, create_started_at=None, input_file_id="file-stale")
        assert hr.store.guard.detach_pending(batch.id, urgent[0].urgent, later) == 2
        with hr.store.read() as conn:
            state, file_id = conn.execute(
                sa.select(batches.c.state, batches.c.input_file_id).where(batches.c.id == batch.id)
            ).one()
            lanes_now = set(
                conn.execute(
                    sa.select(requests.c.lane).where(requests.c.id.in_(urgent[0].urgent))
                ).scalars()
            )
        assert state == BatchState.ABANDONED.value
        assert file_id is None
        assert lanes_now == {Lane.REALTIME.value}


def test_an_unreadable_answer_is_a_retry_not_a_crash() -> None:
    def garbage(_: httpx2.Request) -> httpx2.Response:
        stream = b'data: {"id": "x", "object": "chat.completion.chunk", "choices": [\n\n'
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=stream)

    http = httpx2.Client(transport=httpx2.MockTransport(garbage))
    client = openai.OpenAI(api_key="k", base_url="http://provider.test/v1", http_client=http)
    caller = OpenAICaller(client)
    claimed = ClaimedCall(
        1, "openai", CHAT, "gpt-4o-mini", '{"model": "gpt-4o-mini"}', Lane.REALTIME, None, 0
    )
    record = run_call(caller, claimed, CallPolicy(max_retries=0, max_wait=1.0, backoff=0.0))
    assert record.last.verdict is Verdict.RETRY
    assert record.last.error_code is not None
    client.close()


def test_a_paid_line_for_a_request_its_batch_no_longer_owns_is_recorded_once(
    database_url: str,
) -> None:
    from halfrate.models import Usage
    from halfrate.records import LineOutcome
    from halfrate.retry import RetryPolicy
    from halfrate.store.tables import attempts, results

    with SandboxServer() as server, connected(database_url, server.base_url) as (hr, _):
        hr.submit(chat_specs(2), job="strays")
        batch = claim(hr.store)
        ids = sorted(hr.store.ingest.unreported(batch.id))
        hr.store.guard.detach(batch.id, [ids[0]], time.time())  # taken out while it ran
        line = LineOutcome(ids[0], Verdict.SUCCEEDED, 200, '{"id": "x"}', usage=Usage(10, 0, 5))
        policy = RetryPolicy(3, 0.0)
        for _ in range(2):  # a second ingestion of the same file changes nothing
            counts = hr.store.ingest.apply(batch.id, [line], policy)
            assert counts.ignored == 1
        with hr.store.read() as conn:
            paid = conn.execute(
                sa.select(attempts.c.batch_id, attempts.c.cost_nano).where(
                    attempts.c.request_id == ids[0]
                )
            ).all()
            landed = conn.execute(sa.select(sa.func.count()).select_from(results)).scalar()
        assert [row.batch_id for row in paid] == [batch.id]
        assert paid[0].cost_nano is not None
        assert paid[0].cost_nano > 0
        assert landed == 0  # the result is the realtime call's to land


def test_creates_a_provider_cannot_tell_apart_after_a_crash_go_one_at_a_time(
    database_url: str,
) -> None:
    from halfrate.records import Group
    from tests.helpers import MESSAGES_ENDPOINT, claude_params

    with SandboxServer() as server, connected(database_url, server.base_url) as (hr, _):
        hr.submit(
            [
                RequestSpec(
                    f"a{i}", MESSAGES_ENDPOINT, claude_params(f"q{i}"), provider="anthropic"
                )
                for i in range(4)
            ],
            job="claude",
        )
        group = Group("anthropic", MESSAGES_ENDPOINT, None)
        made = [
            hr.store.queue.claim_batch(
                group, max_lines=2, max_bytes=10**9, line_overhead=10, now=time.time()
            )
            for _ in range(2)
        ]
        first, second = (b for b in made if b is not None)
        queue = hr.store.queue
        now, started = time.time(), CreateStart.STARTED
        assert queue.start_create(first.id, "anthropic", alone=True, now=now) == started
        assert queue.start_create(second.id, "anthropic", alone=True, now=now) == CreateStart.WAIT
        # Providers that carry our id in the batch need no such wait.
        assert queue.start_create(second.id, "anthropic", alone=False, now=now) == started
        queue.update(second.id, create_started_at=None)
        assert queue.mark_submitted(
            first.id, provider_batch_id="msgbatch_1", provider_status="in_progress", next_poll_at=0
        )
        assert queue.start_create(second.id, "anthropic", alone=True, now=now) == started


class _TakenOverWhileUploading(OpenAIBatchProvider):
    """The real provider, with another worker taking the batch's step over at the worst moment:
    after this worker's upload and lease check, before it records its create."""

    def __init__(self, client: openai.OpenAI, taken_over: Callable[[], None]) -> None:
        super().__init__(client, Limits(50_000, 200_000_000))
        self.taken_over = taken_over

    def stage(self, path: Path) -> str:
        staged = super().stage(path)
        self.taken_over()
        return staged


def test_a_step_taken_over_during_the_upload_sends_no_create(database_url: str) -> None:
    with SandboxServer() as server, connected(database_url, server.base_url) as (hr, client):
        hr.submit(chat_specs(3), job="raced")
        batch = claim(hr.store)
        held = hr.store.queue.take_step(batch, batch.next_poll_at or 0.0, 60.0)
        assert held is not None
        keeper = LeaseKeeper(hr.store.queue, 60.0)
        keeper.hold(batch.id, held)

        def other_worker_takes_the_step() -> None:
            hr.store.queue.update(batch.id, next_poll_at=held + 1.0)

        provider = _TakenOverWhileUploading(client, other_worker_takes_the_step)
        ctx = steps.StepContext(hr.store, hr.settings, hr.settings.resolved_home, leases=keeper)
        try:
            assert steps.submit(ctx, provider, hr.store.queue.get(batch.id)) is False
        finally:
            keeper.close()
        assert list(client.batches.list()) == []  # nothing created, nothing to pay
        record = hr.store.queue.get(batch.id)
        assert record.create_started_at is None
        assert record.next_poll_at == held + 1.0  # the other worker's lease, untouched


def test_a_create_whose_answer_never_came_is_not_sent_again_until_it_must_have_landed(
    database_url: str,
) -> None:
    with SandboxServer() as server, connected(database_url, server.base_url) as (hr, client):
        hr.submit(chat_specs(3), job="unknown")
        batch = claim(hr.store)
        provider = OpenAIBatchProvider(client, Limits(50_000, 200_000_000))
        ctx = steps.StepContext(hr.store, hr.settings, hr.settings.resolved_home)
        # A create was sent a moment ago and its answer never came (a timeout, a crash): it
        # may still land at the provider.
        sent = time.time()
        hr.store.queue.update(batch.id, create_started_at=sent)
        assert steps.submit(ctx, provider, hr.store.queue.get(batch.id)) is False
        assert list(client.batches.list()) == []
        waiting = hr.store.queue.get(batch.id)
        assert waiting.next_poll_at == pytest.approx(sent + ctx.create_settle_seconds)
        # Long after it must have landed, and it is not there: it never reached the provider.
        hr.store.queue.update(batch.id, create_started_at=sent - ctx.create_settle_seconds - 1)
        assert steps.submit(ctx, provider, hr.store.queue.get(batch.id)) is True
        assert len(list(client.batches.list())) == 1
        assert hr.store.queue.get(batch.id).state == BatchState.SUBMITTED.value
