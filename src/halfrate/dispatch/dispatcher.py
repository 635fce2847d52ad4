"""One pass of dispatch work: pack ready requests into batches, submit pending batches, poll
the ones in flight (ingesting those that ended)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from concurrent import futures
from dataclasses import dataclass, field

from halfrate.config import Settings
from halfrate.dispatch import steps
from halfrate.dispatch.call_lane import CallLane
from halfrate.dispatch.cancelling import run_cancels
from halfrate.dispatch.delivery import Deliverer, DeliveryCounts
from halfrate.dispatch.guard import GuardReport, run_guard
from halfrate.dispatch.lease import LeaseKeeper
from halfrate.errors import ConfigError, ProviderUnreachable, TransientProviderError
from halfrate.models import BatchState, Result, Verdict
from halfrate.providers.base import BatchProvider
from halfrate.providers.sync import SyncCaller
from halfrate.records import BatchRecord, IngestCounts, LineOutcome, SettleCounts
from halfrate.retry import CallPolicy
from halfrate.store import Store

log = logging.getLogger(__name__)

# A worker run until idle waits for a failing sink this many tries, then leaves its results
# pending (status shows them; a later worker tries again).
DELIVERY_TRIES_BEFORE_IDLE = 3


@dataclass
class TickReport:
    packed_batches: int = 0
    packed_requests: int = 0
    submitted: int = 0
    polled: int = 0
    ingested: int = 0
    lines: IngestCounts = field(default_factory=IngestCounts)
    guard: GuardReport = field(default_factory=GuardReport)
    cancelled: int = 0  # requests and batches acted on for cancelled jobs
    delivered: DeliveryCounts = field(default_factory=DeliveryCounts)
    shared: SettleCounts = field(default_factory=SettleCounts)  # identical requests' answers

    @property
    def did_work(self) -> bool:
        moved = self.guard.moved or self.guard.cancelled or self.cancelled
        delivered = self.delivered.delivered
        shared = self.shared.answered or self.shared.released
        return bool(
            self.packed_batches or self.submitted or self.ingested or moved or delivered or shared
        )


class Dispatcher:
    def __init__(
        self,
        store: Store,
        providers: Mapping[str, BatchProvider],
        settings: Settings,
        callers: Mapping[str, SyncCaller] | None = None,
        callbacks: Mapping[str, Callable[[Result], None]] | None = None,
    ) -> None:
        self.store = store
        self.providers = providers
        self.leases = LeaseKeeper(store.queue, settings.lease_seconds)
        self.ctx = steps.StepContext(
            store, settings, settings.resolved_home / "spool", leases=self.leases
        )
        self._pool = futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="halfrate-ingest")
        self._ingesting: dict[str, futures.Future[IngestCounts | None]] = {}
        self.calls = CallLane(store, callers or {}, settings)
        self._check_policy = CallPolicy.from_settings(settings)
        self.deliverer = Deliverer(store, lease_seconds=settings.lease_seconds, callbacks=callbacks)

    def provider(self, name: str) -> BatchProvider:
        try:
            return self.providers[name]
        except KeyError:
            raise ConfigError(f"no provider {name!r} is configured for this worker") from None

    def preflight(self) -> None:
        """Fail at start, with one clear error, if a provider with work waiting refuses the key
        or stays unreachable through a call's retries, or if work is waiting for a provider
        this worker has no client for.

        Once running, the same faults are absorbed and retried: a worker never loses work to them.
        """
        waiting = self.store.queue.providers_with_work()
        missing = sorted(set(waiting) - set(self.providers))
        if missing:
            name = missing[0]
            raise ConfigError(
                f"{waiting[name]:,} {name} requests are waiting, but this worker has no {name} "
                f"client: set {name.upper()}_API_KEY (and {name.upper()}_BASE_URL for a sandbox)"
            )
        # Only the providers with work are asked, each as patiently as a call: a 500 or a
        # dropped connection at start passes like it would later.
        for name in sorted(waiting):
            self._check(self.providers[name])

    def _check(self, provider: BatchProvider) -> None:
        retries = 0
        while True:
            try:
                provider.check()
                return
            except (TransientProviderError, ProviderUnreachable) as exc:
                wait = self._check_policy.wait_before_retry(retries, None)
                if wait is None:
                    raise
                log.warning("%s; checking again in %.0f s", exc, wait)
                time.sleep(wait)
                retries += 1

    def tick(self) -> TickReport:
        report = TickReport()
        self._collect(report)
        self.calls.check()
        report.guard = run_guard(self.store, self.providers, time.time())
        if report.guard.moved:
            self.calls.nudge()
        report.cancelled = run_cancels(self.store, self.providers, time.time())
        self._pack(report)
        now = time.time()
        for batch in self.store.queue.due(BatchState.PENDING, now):
            if not self._take(batch):
                continue
            try:
                if steps.submit(self.ctx, self.provider(batch.provider), batch):
                    report.submitted += 1
            finally:
                self.leases.release(batch.id)
        for batch in self.store.queue.due(BatchState.SUBMITTED, time.time()):
            if batch.id in self._ingesting or not self._take(batch):
                continue
            report.polled += 1
            provider = self.provider(batch.provider)
            try:
                remote = steps.poll(self.ctx, provider, batch)
            except BaseException:
                self.leases.release(batch.id)
                raise
            if remote is None:
                self.leases.release(batch.id)
            else:
                # The lease stays held (and renewed) until the ingestion is done.
                # Ingesting a big batch takes seconds of database work; doing it on the side
                # keeps polling and submitting (network waits) going meanwhile. A crash mid-way
                # is harmless: the batch stays `submitted`, and re-ingesting changes nothing.
                self._ingesting[batch.id] = self._pool.submit(
                    steps.ingest, self.ctx, provider, batch, remote
                )
        self._collect(report)
        self._settle_shared(report)
        report.delivered = self.deliverer.run()
        return report

    def _settle_shared(self, report: TickReport) -> None:
        """Answer the requests whose identical request has just been answered (or release them
        to run themselves, when it failed)."""
        counts = self.store.answers.settle(time.time())
        for name in ("dedup", "response", "released"):
            setattr(report.shared, name, getattr(report.shared, name) + getattr(counts, name))

    def _take(self, batch: BatchRecord) -> bool:
        """Only one worker at a time works on a batch: never two creates, never two ingests."""
        assert batch.next_poll_at is not None
        held = self.store.queue.take_step(batch, batch.next_poll_at, self.leases.lease_seconds)
        if held is None:
            return False
        self.leases.hold(batch.id, held)
        return True

    @property
    def ingesting(self) -> bool:
        return bool(self._ingesting)

    def wait_for_ingest(self, timeout: float) -> None:
        if self._ingesting:
            futures.wait(list(self._ingesting.values()), timeout, futures.FIRST_COMPLETED)

    def drain(self) -> TickReport:
        """Wait for every ingestion under way; report what they stored."""
        report = TickReport()
        if self._ingesting:
            futures.wait(list(self._ingesting.values()))
        self._collect(report)
        self._settle_shared(report)
        report.delivered = self.deliverer.run()
        return report

    def deliveries_due(self) -> float | None:
        """When this worker next has a delivery to try (see DeliveryQueries.next_due)."""
        skip = list(self.deliverer.unavailable)
        return self.store.deliveries.next_due(skip, DELIVERY_TRIES_BEFORE_IDLE)

    def _collect(self, report: TickReport) -> None:
        for batch_id, future in list(self._ingesting.items()):
            if not future.done():
                continue
            del self._ingesting[batch_id]
            self.leases.release(batch_id)
            counts = future.result()  # re-raises what went wrong in the ingest thread
            if counts is not None:
                report.ingested += 1
                report.lines.add(counts)

    def _pack(self, report: TickReport) -> None:
        mixed = frozenset(name for name, p in self.providers.items() if p.mixes_models)
        for group in self.store.queue.ready_groups(time.time(), mixed):
            provider = self.provider(group.provider)
            limits = provider.limits
            overhead = provider.line_overhead(group.endpoint)
            while True:
                batch = self.store.queue.claim_batch(
                    group,
                    max_lines=limits.max_lines,
                    max_bytes=limits.max_bytes,
                    line_overhead=overhead,
                    now=time.time(),
                )
                if batch is None:
                    break
                if batch.byte_count > limits.max_bytes:
                    self._refuse_oversized(batch.id, batch.byte_count, limits.max_bytes)
                    continue
                report.packed_batches += 1
                report.packed_requests += batch.request_count
                log.info(
                    "packed batch %s: %d %s requests for %s",
                    batch.id,
                    batch.request_count,
                    group.endpoint,
                    group.model,
                )

    def _refuse_oversized(self, batch_id: str, size: int, limit: int) -> None:
        # A claim only exceeds the byte limit with a single request that alone is too big;
        # submit-time validation prevents this, but a lowered limit could still meet one.
        message = (
            f"the request ({size:,} bytes) is larger than the provider's batch limit ({limit:,})"
        )
        ids = self.store.ingest.unreported(batch_id)
        outcomes = [
            LineOutcome(i, Verdict.FAILED, None, None, "request_too_large", message) for i in ids
        ]
        self.store.ingest.apply(batch_id, outcomes, self.ctx.retry_policy)
        self.store.queue.abandon(batch_id, message)

    def close(self, *, close_providers: bool = True) -> None:
        """Stop the ingest thread and the call lane; close the providers' clients unless the
        caller owns them."""
        self.calls.close()
        self._pool.shutdown(wait=True)
        self.leases.close()
        self.deliverer.close()
        if close_providers:
            for provider in self.providers.values():
                provider.close()
