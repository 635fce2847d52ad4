"""Write-back: hand each stored result to the sinks of its job, exactly as the outbox says.

A worker leases a sink, gives it the pending results in request order (chunks of
``DELIVERY_CHUNK``), and records what was delivered, what failed (tried again with backoff) and
the sink's cursor in one transaction. A sink this process cannot serve (a callback registered in
another process) is left to a process that can; its results stay pending and status shows them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from halfrate.errors import SinkUnavailable
from halfrate.models import Result
from halfrate.records import SinkRow
from halfrate.sinks import Sink, parse_sink
from halfrate.sinks.base import DeliveryReport
from halfrate.sinks.opening import open_sink
from halfrate.store import Store

log = logging.getLogger(__name__)

DELIVERY_CHUNK = 1_000
# A worker pass delivers for about this long (plus the chunk under way) and leaves the rest to
# the next pass: polling, ingest and the deadline guard never wait on a slow receiver.
PASS_SECONDS = 2.0
BACKFILL_EVERY_SECONDS = 10.0
FIRST_RETRY_SECONDS = 1.0


@dataclass
class DeliveryCounts:
    delivered: int = 0
    failed: int = 0  # tries that failed (tried again later)

    def add(self, other: DeliveryCounts) -> None:
        self.delivered += other.delivered
        self.failed += other.failed


class Deliverer:
    def __init__(
        self,
        store: Store,
        *,
        lease_seconds: float,
        callbacks: Mapping[str, Callable[[Result], None]] | None = None,
        retry_seconds: float = FIRST_RETRY_SECONDS,
    ) -> None:
        self.store = store
        self.lease_seconds = lease_seconds
        self.callbacks = dict(callbacks or {})
        self.retry_seconds = retry_seconds
        self._open: dict[str, Sink] = {}
        self.unavailable: dict[str, str] = {}  # sink id -> why this process cannot serve it
        self._last_backfill: dict[str, float] = {}

    def run(self, now: float | None = None) -> DeliveryCounts:
        """Deliver what is due to every sink this worker can take."""
        counts = DeliveryCounts()
        now = time.time() if now is None else now
        until = time.monotonic() + PASS_SECONDS
        for row in self.store.deliveries.due_sinks(now):
            if time.monotonic() >= until:
                break  # the other sinks stay due: the next pass takes them
            if row.id in self.unavailable:
                continue
            counts.add(self._serve(row.id, now, until))
        return counts

    def _serve(self, sink_id: str, now: float, until: float) -> DeliveryCounts:
        counts = DeliveryCounts()
        row = self.store.deliveries.take(sink_id, now, self.lease_seconds)
        if row is None:
            return counts  # another worker is delivering to it
        try:
            sink = self._sink(row)
        except SinkUnavailable as exc:
            self.unavailable[row.id] = str(exc)
            self.store.deliveries.release(row.id, str(exc))
            log.info("sink %s is not served by this process: %s", row.id, exc)
            return counts
        cursor = row.cursor
        try:
            while True:
                items = self.store.deliveries.pending(row, time.time(), DELIVERY_CHUNK)
                if not items:
                    break
                report = sink.deliver(items, cursor)
                _check(report, len(items))
                cursor = report.cursor
                more = (
                    len(items) == DELIVERY_CHUNK and not report.failed and time.monotonic() < until
                )
                self.store.deliveries.record(
                    SinkRow(row.id, row.job_id, row.spec, row.kind, cursor),
                    report,
                    now=time.time(),
                    backoff_seconds=self.retry_seconds,
                    keep_lease=self.lease_seconds if more else None,
                )
                counts.delivered += len(report.delivered)
                counts.failed += len(report.failed)
                if report.failed:
                    first = next(iter(report.failed.values()))
                    log.warning(
                        "sink %s: %d results not delivered (will retry): %s",
                        sink.spec.display(),
                        len(report.failed),
                        first,
                    )
                if not more:
                    return counts
        except BaseException:
            self.store.deliveries.release(row.id)
            raise
        self.store.deliveries.release(row.id)
        self._maybe_backfill(row)
        return counts

    def _maybe_backfill(self, row: SinkRow) -> None:
        now = time.monotonic()
        if now - self._last_backfill.get(row.id, 0.0) >= BACKFILL_EVERY_SECONDS:
            self._last_backfill[row.id] = now
            self.store.deliveries.backfill(row)

    def _sink(self, row: SinkRow) -> Sink:
        sink = self._open.get(row.id)
        if sink is None:
            sink = open_sink(parse_sink(row.spec), self.callbacks)
            self._open[row.id] = sink
        return sink

    def close(self) -> None:
        for sink in self._open.values():
            try:
                sink.close()
            except Exception:
                log.warning("could not close sink %s", sink.spec.display(), exc_info=True)
        self._open.clear()


def _check(report: DeliveryReport, given: int) -> None:
    """A sink accounts for every item it was given, once."""
    accounted = len(report.delivered) + len(report.failed)
    if accounted != given:
        raise RuntimeError(f"a sink accounted for {accounted} of {given} results")
