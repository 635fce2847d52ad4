"""One step of one batch at a time: submit (upload + create), poll, ingest.

Each step records what it learned before the next network call, so a crash at any point leaves
the store saying exactly how far the batch got. Provider faults that may pass are recorded and
retried later with backoff; they never lose or duplicate a request.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from halfrate.config import Settings
from halfrate.dispatch.lease import LeaseKeeper
from halfrate.dispatch.packing import write_batch_file
from halfrate.dispatch.prefetch import Prefetch
from halfrate.errors import ProviderRejected, ProviderUnreachable, TransientProviderError
from halfrate.models import Verdict
from halfrate.providers.base import (
    BatchProvider,
    OutputLine,
    RemoteBatch,
    request_id_from,
)
from halfrate.records import BatchRecord, CreateStart, IngestCounts, LineOutcome
from halfrate.retry import UNRUN_CODES, RetryPolicy, poll_delay
from halfrate.store import Store

log = logging.getLogger(__name__)

# Lines are stored in chunks, one transaction each. Providers shuffle output, so each chunk
# updates rows spread over the whole batch: big chunks touch each database page once instead of
# once per chunk (2x faster at 25,000 lines than at 5,000). Bytes bound the memory a chunk holds:
# up to three chunks are in memory at once (bench/tabular.py: 12 MB instead of 32 MB took 20 MB
# off the peak of a 100,000-row table, at the same speed).
INGEST_CHUNK_LINES = 25_000
INGEST_CHUNK_BYTES = 12_000_000
# How far back to look for a batch whose create may have reached the provider before a crash.
RECONCILE_SLACK_SECONDS = 600.0
# A lease value no batch holds (next_poll_at is a time): a worker that lost its lease asks the
# store to start a create on it, and is refused.
LOST_LEASE = -1.0
# Creates answered "no such file" for a just-uploaded file before it is uploaded again.
REUPLOAD_AFTER_NOT_FOUND = 3


@dataclass
class StepContext:
    store: Store
    settings: Settings
    spool: Path
    leases: LeaseKeeper | None = None

    @contextlib.contextmanager
    def holding(self, batch: BatchRecord) -> Iterator[float | None]:
        """This worker's lease on the batch's step, unchanged while the block runs (None
        without a keeper: nothing to check); see :meth:`LeaseKeeper.holding`."""
        if self.leases is None:
            yield None
            return
        with self.leases.holding(batch.id) as held:
            yield held if held is not None else LOST_LEASE

    @property
    def create_settle_seconds(self) -> float:
        """How long after a create was sent its answer can still come (the provider timeout),
        with a margin for a provider that is slow to show a new batch in its list."""
        return self.settings.provider_timeout_seconds + self.settings.create_settle_seconds

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy.from_settings(self.settings)

    def backoff(self, tries: int) -> float:
        return poll_delay(self.settings, tries)


def submit(ctx: StepContext, provider: BatchProvider, batch: BatchRecord) -> bool:
    """Get ``batch`` created at the provider exactly once. Returns True when it is submitted."""
    path: Path | None = None
    try:
        if batch.create_started_at is not None:
            # A create may have reached the provider without us recording its answer.
            found = provider.find_created(
                batch.id,
                batch.request_count,
                batch.create_started_at - RECONCILE_SLACK_SECONDS,
                lambda provider_batch_id: ctx.store.queue.is_claimed(
                    provider.name, provider_batch_id
                ),
            )
            if found is not None:
                log.info("batch %s found at the provider as %s after a restart", batch.id, found.id)
                return _mark_submitted(ctx, batch, found)
            settled_at = batch.create_started_at + ctx.create_settle_seconds
            if time.time() < settled_at:
                # The last create (this worker's that timed out, or one of a worker that died or
                # stalled) may still be on its way to the provider: creating again now could
                # make a second batch and pay twice. Look again once it must have landed.
                log.info("batch %s: its last create may still land; looking again", batch.id)
                ctx.store.queue.update(batch.id, next_poll_at=settled_at)
                return False
        source = batch.input_file_id
        if source is None:
            path = write_batch_file(ctx.store, provider, batch, ctx.spool)
            source = provider.stage(path)
            if provider.uploads_input:
                path.unlink(missing_ok=True)
                path = None
                ctx.store.queue.update(batch.id, input_file_id=source)
        alone = not provider.tags_batches
        with ctx.holding(batch) as held:
            started = ctx.store.queue.start_create(
                batch.id, provider.name, alone=alone, now=time.time(), held=held
            )
        if started is CreateStart.LOST:
            # Another worker took the step over while this one uploaded: it creates the batch
            # (or finds ours by its metadata), so this one must not.
            log.info("batch %s: another worker took over its create", batch.id)
            return False
        if started is CreateStart.WAIT:
            log.info("batch %s waits for another %s create to settle", batch.id, provider.name)
            ctx.store.queue.update(batch.id, next_poll_at=time.time() + ctx.backoff(1))
            return False
        remote = provider.create(batch.id, batch.endpoint, source)
    except (TransientProviderError, ProviderUnreachable) as exc:
        _submit_failed(ctx, batch, str(exc))
        return False
    except ProviderRejected as exc:
        if exc.status_code == 404 and provider.uploads_input:
            # The uploaded file is not visible yet, a known provider lag right after an upload:
            # create again with the same file after a backoff. Only a file still unseen after
            # several tries is uploaded anew (an upload that really got lost).
            if (batch.submit_failures + 1) % REUPLOAD_AFTER_NOT_FOUND == 0:
                ctx.store.queue.update(batch.id, input_file_id=None)
            _submit_failed(ctx, batch, str(exc))
            return False
        moved = ctx.store.queue.abandon(batch.id, f"the provider refused the batch: {exc}")
        log.error(
            "batch %s refused by the provider (%s); %d requests re-queued", batch.id, exc, moved
        )
        return False
    finally:
        if path is not None:
            path.unlink(missing_ok=True)
    return _mark_submitted(ctx, batch, remote)


def _mark_submitted(ctx: StepContext, batch: BatchRecord, remote: RemoteBatch) -> bool:
    recorded = ctx.store.queue.mark_submitted(
        batch.id,
        provider_batch_id=remote.id,
        provider_status=remote.status,
        next_poll_at=time.time() + ctx.backoff(0),
    )
    if not recorded:
        log.warning("batch %s was recorded as submitted by another worker", batch.id)
    return recorded


def _submit_failed(ctx: StepContext, batch: BatchRecord, reason: str) -> None:
    failures = batch.submit_failures + 1
    log.warning("batch %s: submit failed (%d): %s", batch.id, failures, reason)
    ctx.store.queue.update(
        batch.id,
        submit_failures=failures,
        last_error=reason,
        next_poll_at=time.time() + ctx.backoff(failures),
    )


def poll(ctx: StepContext, provider: BatchProvider, batch: BatchRecord) -> RemoteBatch | None:
    """Ask the provider how the batch is doing; returns it once it has ended (to be ingested)."""
    assert batch.provider_batch_id is not None
    try:
        remote = provider.retrieve(batch.provider_batch_id)
    except (TransientProviderError, ProviderUnreachable, ProviderRejected) as exc:
        # A 404 right after create is a known provider hiccup: keep polling, never re-create.
        ctx.store.queue.update(
            batch.id,
            last_error=str(exc),
            poll_count=batch.poll_count + 1,
            next_poll_at=time.time() + ctx.backoff(batch.poll_count + 1),
        )
        return None
    facts = {
        "provider_status": remote.status,
        "completed_count": remote.completed,
        "failed_count": remote.failed,
        "poll_count": batch.poll_count + 1,
        "last_error": None,
    }
    if not remote.terminal:
        # A batch halfrate asked to cancel ends soon, and requests wait on it: look often.
        tries = 0 if batch.cancel_requested_at is not None else batch.poll_count + 1
        ctx.store.queue.update(batch.id, **facts, next_poll_at=time.time() + ctx.backoff(tries))
        return None
    errors = [{"code": e.code, "message": e.message, "line": e.line} for e in remote.errors]
    ctx.store.queue.update(
        batch.id,
        **facts,
        output_file_id=remote.output_file_id,
        error_file_id=remote.error_file_id,
        provider_errors=orjson.dumps(errors).decode() if errors else None,
        ended_at=time.time(),
    )
    return remote


def ingest(
    ctx: StepContext, provider: BatchProvider, batch: BatchRecord, remote: RemoteBatch
) -> IngestCounts | None:
    """Store every line of the output and error files, then settle requests no line mentioned.

    Safe to repeat: lines for requests already settled are ignored.
    """
    counts = IngestCounts()
    try:
        for ref in remote.outputs:
            parsing = IngestCounts()  # the parse thread's CPU time, counted there
            with Prefetch(_chunks(provider, ref, parsing), name="halfrate-parse") as chunks:
                for chunk in chunks:
                    counts.add(ctx.store.ingest.apply(batch.id, chunk, ctx.retry_policy))
            counts.add(parsing)
    except (TransientProviderError, ProviderUnreachable, ProviderRejected) as exc:
        ctx.store.queue.update(
            batch.id, last_error=str(exc), next_poll_at=time.time() + ctx.backoff(1)
        )
        return None
    counts.add(_settle_unreported(ctx, batch, remote))
    if not ctx.store.queue.mark_ingested(batch.id):
        log.info("batch %s was ingested by another worker as well; nothing changed twice", batch.id)
    log.info(
        "batch %s (%s) %s: %s; CPU seconds by stage: %s",
        batch.id,
        remote.id,
        remote.status,
        counts,
        ", ".join(f"{stage} {spent:.2f}" for stage, spent in counts.seconds.items()),
    )
    return counts


def _chunks(provider: BatchProvider, ref: str, clock: IngestCounts) -> Iterator[list[LineOutcome]]:
    """The output file's lines, parsed, in chunks; ``clock`` counts the parse's CPU time (this
    runs in the prefetch thread: the time between chunks handed over is this thread's)."""
    chunk: list[LineOutcome] = []
    held = 0
    started = time.thread_time()
    for raw in provider.iter_output(ref):
        parsed = provider.parse_output_line(raw)
        if parsed is None:
            continue
        outcome = _outcome(parsed)
        if outcome is None:
            log.warning("output line with a custom_id halfrate did not write: %r", parsed.custom_id)
            continue
        chunk.append(outcome)
        held += len(raw)
        if len(chunk) >= INGEST_CHUNK_LINES or held >= INGEST_CHUNK_BYTES:
            clock.spend("parse", time.thread_time() - started)
            yield chunk
            started = time.thread_time()
            chunk, held = [], 0
    clock.spend("parse", time.thread_time() - started)
    if chunk:
        yield chunk


def _outcome(line: OutputLine) -> LineOutcome | None:
    request_id = request_id_from(line.custom_id)
    if request_id is None:
        return None
    # A line the provider never ran (its batch expired or was cancelled first) was not tried:
    # it goes again without spending an attempt. (Positional: this runs once per output line.)
    return LineOutcome(
        request_id,
        line.verdict,
        line.status_code,
        line.response_json,
        line.error_code,
        line.error_message,
        line.usage,
        line.verdict is Verdict.RETRY and line.error_code in UNRUN_CODES,
    )


def _settle_unreported(ctx: StepContext, batch: BatchRecord, remote: RemoteBatch) -> IngestCounts:
    """Requests that no output line mentioned.

    A batch that failed validation ran nothing. The lines the provider names fail with its
    message; the others were not the problem and go back to the queue without spending an
    attempt. If it names no line (an empty or oversized file), every request spends one, so a
    problem that persists ends at the attempt cap instead of looping. Lines missing from a batch
    that ran never ran: they go back without spending an attempt (up to the unrun cap).
    """
    left = ctx.store.ingest.unreported(batch.id)
    if not left:
        return IngestCounts()
    reason = _unreported_reason(remote)
    by_line = {e.line: e for e in remote.errors if e.line is not None}
    if not remote.failed_validation or not by_line:
        free = not remote.failed_validation
        retry = [LineOutcome(rid, Verdict.RETRY, None, None, *reason, free=free) for rid in left]
        return ctx.store.ingest.apply(batch.id, retry, ctx.retry_policy)
    # Input lines were written in the store's batch-line order (prefix groups, then request id)
    # and nothing of a failed batch was settled, so line N (1-based) is the N-th unreported
    # request in that order.
    named, innocent = [], []
    for index, request_id in enumerate(left, start=1):
        error = by_line.get(index)
        if error is None:
            innocent.append(request_id)
        else:
            named.append(
                LineOutcome(request_id, Verdict.FAILED, None, None, error.code, error.message)
            )
    counts = ctx.store.ingest.apply(batch.id, named, ctx.retry_policy)
    counts.retried += ctx.store.queue.release(batch.id, innocent, reason[1])
    return counts


def _unreported_reason(remote: RemoteBatch) -> tuple[str, str]:
    if remote.failed_validation:
        first = remote.errors[0] if remote.errors else None
        detail = f"{first.code}: {first.message}" if first else "no reason given"
        return "batch_failed", f"the batch failed validation ({detail})"
    return "missing_output", f"no output line came back for this request (batch {remote.status})"
