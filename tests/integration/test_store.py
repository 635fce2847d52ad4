"""The store on real SQLite and PostgreSQL: idempotent submit, claiming, transitions, ingest."""

from __future__ import annotations

import orjson
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from halfrate.errors import IdempotencyConflict, InvalidTransition
from halfrate.models import BatchState, Provider, RequestState, Usage, Verdict
from halfrate.records import Group, LineOutcome, ParsedLine
from halfrate.retry import RetryPolicy
from halfrate.store import Store
from halfrate.store.tables import attempts, metadata, requests, results
from halfrate.store.transitions import move_requests

CHAT = "/v1/chat/completions"
GROUP = Group("openai", CHAT, "gpt-4o-mini")
POLICY = RetryPolicy(max_attempts=3, backoff_seconds=0.0)


def lines(n: int, *, start: int = 0, content: str = "hi") -> list[ParsedLine]:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}]}
    return [
        ParsedLine(
            i + 1,
            f"k{start + i}",
            Provider.OPENAI,
            CHAT,
            "gpt-4o-mini",
            orjson.dumps(body).decode(),
        )
        for i in range(n)
    ]


def submit(store: Store, items: list[ParsedLine], job: str = "job-a") -> str:
    outcome = store.submissions.submit(
        job_name=job, source=None, feature="f", team="t", lines=items
    )
    return outcome.job_id


def count(store: Store, table: sa.Table) -> int:
    with store.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_a_new_store_holds_every_table_as_described(store: Store) -> None:
    """A new store is made from the tables (every module describing one is loaded for it);
    test_migrations proves the migrations build the same, step by step."""
    with store.engine.connect() as conn:
        # Server defaults too: a bulk insert leaves out the columns no row fills only where
        # the table has no default, as the tables describe it (store.base).
        context = MigrationContext.configure(conn, opts={"compare_server_default": True})
        diff = compare_metadata(context, metadata)
    assert diff == []


def test_resubmitting_the_same_lines_creates_nothing(store: Store) -> None:
    first = store.submissions.submit(
        job_name="j", source=None, feature=None, team=None, lines=lines(5)
    )
    again = store.submissions.submit(
        job_name="j", source=None, feature=None, team=None, lines=lines(5)
    )
    assert (first.created, first.existing) == (5, 0)
    assert (again.created, again.existing) == (0, 5)
    assert again.job_id == first.job_id
    more = store.submissions.submit(
        job_name="j", source=None, feature=None, team=None, lines=lines(7)
    )
    assert (more.created, more.existing) == (2, 5)
    assert count(store, requests) == 7


def test_same_key_with_a_different_request_stores_nothing(store: Store) -> None:
    submit(store, lines(3))
    changed = lines(2, start=10) + lines(1, content="something else")
    with pytest.raises(IdempotencyConflict, match="'k0' was already submitted"):
        submit(store, changed)
    assert count(store, requests) == 3  # the two new lines of the refused call were rolled back


def test_claim_splits_at_line_and_byte_limits(store: Store) -> None:
    submit(store, lines(25))
    sizes = []
    while batch := store.queue.claim_batch(
        GROUP, max_lines=10, max_bytes=10**9, line_overhead=50, now=1e12
    ):
        sizes.append(batch.request_count)
    assert sizes == [10, 10, 5]
    submit(store, lines(6, start=100), job="job-b")
    one_line = len(lines(1)[0].body_json) + 50
    batch = store.queue.claim_batch(
        GROUP, max_lines=100, max_bytes=one_line * 4, line_overhead=50, now=1e12
    )
    assert batch is not None
    assert batch.request_count == 4
    assert batch.byte_count <= one_line * 4


def test_a_request_is_claimed_into_one_batch_only(store: Store) -> None:
    submit(store, lines(4))
    first = store.queue.claim_batch(
        GROUP, max_lines=10, max_bytes=10**9, line_overhead=50, now=1e12
    )
    assert first is not None
    assert (
        store.queue.claim_batch(GROUP, max_lines=10, max_bytes=10**9, line_overhead=50, now=1e12)
        is None
    )
    assert [line.request_id for line in store.batch_input.iter_lines(first.id)] == sorted(
        line.request_id for line in store.batch_input.iter_lines(first.id)
    )


def test_transitions_are_enforced_in_the_store(store: Store) -> None:
    submit(store, lines(2))
    with store.read() as conn:
        ids = list(conn.execute(sa.select(requests.c.id)).scalars())
    with store.write() as conn:
        move_requests(conn, ids[:1], RequestState.CANCELLED)
    with pytest.raises(InvalidTransition), store.write() as conn:
        # cancelled -> succeeded is not allowed: the whole update rolls back
        move_requests(conn, ids, RequestState.SUCCEEDED)
    with store.read() as conn:
        states = sorted(conn.execute(sa.select(requests.c.state).order_by(requests.c.id)).scalars())
    assert states == ["cancelled", "queued"]


def _claimed(store: Store, n: int) -> tuple[str, list[int]]:
    submit(store, lines(n))
    batch = store.queue.claim_batch(GROUP, max_lines=n, max_bytes=10**9, line_overhead=50, now=1e12)
    assert batch is not None
    return batch.id, [line.request_id for line in store.batch_input.iter_lines(batch.id)]


def test_ingesting_the_same_lines_twice_changes_nothing(store: Store) -> None:
    batch_id, ids = _claimed(store, 3)
    outcomes = [
        LineOutcome(ids[0], Verdict.SUCCEEDED, 200, '{"ok": 1}', usage=Usage(10, 0, 3, 0)),
        LineOutcome(ids[1], Verdict.FAILED, 400, '{"error": {}}', "invalid_request_error", "bad"),
        LineOutcome(ids[0], Verdict.SUCCEEDED, 200, '{"ok": 2}'),  # duplicated output line
    ]
    first = store.ingest.apply(batch_id, outcomes, POLICY)
    assert (first.succeeded, first.failed, first.ignored) == (1, 1, 1)
    second = store.ingest.apply(batch_id, outcomes, POLICY)
    assert (second.succeeded, second.failed, second.ignored) == (0, 0, 3)
    assert count(store, results) == 2
    assert count(store, attempts) == 2
    assert store.ingest.unreported(batch_id) == [ids[2]]
    with store.read() as conn:
        stored = conn.execute(
            sa.select(results.c.response).where(results.c.request_id == ids[0])
        ).scalar()
    assert stored == '{"ok": 1}'


def test_retries_go_back_to_the_queue_until_the_cap(store: Store) -> None:
    policy = RetryPolicy(max_attempts=2, backoff_seconds=0.0)
    batch_id, ids = _claimed(store, 1)
    retry = [LineOutcome(ids[0], Verdict.RETRY, None, None, "batch_expired", "window ended")]
    assert store.ingest.apply(batch_id, retry, policy).retried == 1
    second = store.queue.claim_batch(
        GROUP, max_lines=5, max_bytes=10**9, line_overhead=50, now=1e12
    )
    assert second is not None
    assert second.id != batch_id
    retry = [LineOutcome(ids[0], Verdict.RETRY, None, None, "batch_expired", "window ended")]
    counts = store.ingest.apply(second.id, retry, policy)
    assert (counts.retried, counts.failed) == (0, 1)
    with store.read() as conn:
        state, last_error, attempt_count = conn.execute(
            sa.select(requests.c.state, requests.c.last_error, requests.c.attempt_count)
        ).one()
        error = conn.execute(sa.select(results.c.error)).scalar_one()
    assert (state, attempt_count) == ("failed", 2)
    assert "gave up after 2 attempts" in last_error
    assert "window ended" in orjson.loads(error)["message"]


def test_abandoned_batch_returns_its_requests(store: Store) -> None:
    batch_id, _ = _claimed(store, 3)
    assert store.queue.abandon(batch_id, "refused") == 3
    assert store.queue.get(batch_id).state == BatchState.ABANDONED.value
    again = store.queue.claim_batch(GROUP, max_lines=5, max_bytes=10**9, line_overhead=50, now=1e12)
    assert again is not None
    assert again.request_count == 3


def test_job_status_and_results_read_back(store: Store) -> None:
    job_id = submit(store, lines(3))
    status = store.reads.job_status("job-a")
    assert status.id == job_id
    assert status.counts == {"queued": 3}
    assert [r.key for r in store.reads.iter_results(job_id)] == ["k0", "k1", "k2"]
    assert store.reads.find_job(job_id).name == "job-a"


def test_progress_counts_each_state_and_the_biggest_reason_to_wait(store: Store) -> None:
    """The progress read: requests per state over the jobs asked about (no other job's), the
    queued ones still waiting for their retry time (how many, from when, the most common
    last error), and nothing else counted as waiting."""
    job = submit(store, lines(12))
    other = submit(store, lines(5, start=100), job="job-b")
    now = 1_000_000.0
    with store.write() as conn:
        ids = [r[0] for r in conn.execute(sa.select(requests.c.id).order_by(requests.c.id))][:12]
        finals = {RequestState.SUCCEEDED: ids[:4], RequestState.FAILED: ids[4:6]}
        for state, chosen in finals.items():
            conn.execute(
                sa.update(requests).where(requests.c.id.in_(chosen)).values(state=state.value)
            )
        waits = {"rate limited": ids[6:9], "overloaded": ids[9:10]}
        for reason, chosen in waits.items():
            conn.execute(
                sa.update(requests)
                .where(requests.c.id.in_(chosen))
                .values(not_before=now + 60 + len(reason), last_error=reason)
            )
        # Due already: queued, not waiting.
        conn.execute(sa.update(requests).where(requests.c.id == ids[10]).values(not_before=now))
    progress = store.reads.progress([job], now)
    assert progress.counts == {"succeeded": 4, "failed": 2, "queued": 6}
    assert progress.retry is not None
    assert (progress.retry.requests, progress.retry.reason) == (4, "rate limited")
    assert progress.retry.until == now + 60 + len("overloaded")
    both = store.reads.progress([job, other], now)
    assert both.counts == {"succeeded": 4, "failed": 2, "queued": 11}
    assert store.reads.progress([other], now).retry is None
