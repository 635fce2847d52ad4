"""Keeping a worker's hold on the batch steps it is working on.

Taking a step pushes the batch's ``next_poll_at`` out by the lease; another worker skips the batch
until then. A step can outlast any fixed lease (a 200 MB upload, the ingestion of 50,000 lines on
a busy database), so while it runs a thread pushes the lease on, every third of its length. The
renewal only succeeds if ``next_poll_at`` still holds the value this worker wrote: if it changed,
another worker took the step over (this one stalled past its lease), and the step must not do
anything that cannot be done twice — above all, not create the batch at the provider.

A worker that dies stops renewing, so its steps are free again within one lease.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator

from halfrate.store.queue import QueueQueries

log = logging.getLogger(__name__)


class LeaseKeeper:
    def __init__(self, queue: QueueQueries, lease_seconds: float) -> None:
        self._queue = queue
        self.lease_seconds = lease_seconds
        self._held: dict[str, float] = {}  # batch id -> the next_poll_at we wrote
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        # Held while a lease is renewed, and while a step acts on its lease being unchanged.
        self._renewing = threading.Lock()
        self._thread: threading.Thread | None = None

    def hold(self, batch_id: str, held_until: float) -> None:
        with self._lock:
            self._held[batch_id] = held_until
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(
                    target=self._run, name="halfrate-leases", daemon=True
                )
                self._thread.start()

    def release(self, batch_id: str) -> None:
        with self._lock:
            self._held.pop(batch_id, None)

    @contextlib.contextmanager
    def holding(self, batch_id: str) -> Iterator[float | None]:
        """The lease this worker holds on the batch's step (None: none), kept unchanged by the
        renewals until the block ends, so a write conditional on it is not refused merely
        because this worker renewed it meanwhile."""
        with self._renewing:
            with self._lock:
                held = self._held.get(batch_id)
            yield held

    def confirm(self, batch_id: str) -> bool:
        """Renew the lease now; False if this worker no longer holds the step."""
        with self._lock:
            held = self._held.get(batch_id)
        if held is None:
            return False
        with self._renewing:
            renewed = self._queue.renew_step(batch_id, held, self.lease_seconds)
        with self._lock:
            if renewed is None:
                self._held.pop(batch_id, None)
                log.info("batch %s: this worker no longer holds the step", batch_id)
                return False
            if batch_id in self._held:
                self._held[batch_id] = renewed
        return True

    def _run(self) -> None:
        interval = max(0.05, self.lease_seconds / 3)
        while not self._wake.wait(interval):
            with self._lock:
                held = list(self._held)
            for batch_id in held:
                try:
                    self.confirm(batch_id)
                except Exception:  # a database hiccup: the next round tries again
                    log.warning("could not renew the lease of batch %s", batch_id, exc_info=True)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            thread, self._thread = self._thread, None
        self._wake.set()
        if thread is not None:
            thread.join(timeout=5)
