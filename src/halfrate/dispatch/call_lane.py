"""The worker's synchronous lanes: realtime and flex requests, called concurrently.

A feeder thread keeps up to ``realtime_concurrency`` calls running: it takes queued requests
(with a lease), hands them to a thread pool, and stores what comes back, several calls per
transaction. It runs apart from the batch loop so a slow poll or a big ingestion never holds up
a call a person may be waiting for, and calls never wait for a batch tick.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from concurrent import futures

from halfrate.config import Settings
from halfrate.dispatch.sync_call import run_call
from halfrate.errors import ConfigError
from halfrate.providers.sync import SyncCaller
from halfrate.records import CallCounts, CallRecord, ClaimedCall
from halfrate.retry import CallPolicy, RetryPolicy
from halfrate.store import Store

log = logging.getLogger(__name__)

GATHER_SECONDS = 0.005


class CallLane:
    def __init__(self, store: Store, callers: Mapping[str, SyncCaller], settings: Settings) -> None:
        self.store = store
        self.callers = callers
        self.concurrency = settings.realtime_concurrency
        # Requests taken ahead of the calls under way wait in the pool's queue, so a thread
        # that finishes starts its next call at once instead of waiting for this feeder.
        self.depth = 2 * self.concurrency
        self.idle_sleep = settings.worker_idle_seconds
        self.lease = settings.lease_seconds
        self.policy = CallPolicy.from_settings(settings)
        self.retry = RetryPolicy.from_settings(settings)
        self.counts = CallCounts()
        self._pool = futures.ThreadPoolExecutor(
            max_workers=self.concurrency, thread_name_prefix="halfrate-call"
        )
        self._running: dict[futures.Future[CallRecord], ClaimedCall] = {}
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._idle = threading.Event()  # set when nothing runs and the last look found nothing
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._last_upkeep = 0.0

    # -- the feeder thread ------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._feed, name="halfrate-calls", daemon=True)
            self._thread.start()

    def _feed(self) -> None:
        try:
            while not self._stop.is_set():
                done = self._wait(self.idle_sleep)
                records = [future.result() for future in done]  # run_call never raises
                wanted = self._wanted(len(done))
                started = 0
                if records or wanted:
                    counts, claimed = self.store.calls.exchange(
                        records, self.retry, wanted, self.lease, time.time()
                    )
                    self.counts.add(counts)
                    started = self._start(claimed)
                # Only now: until their outcome is stored, the lane is busy with them.
                self._pop(done)
                self._upkeep()
                if not started and not self.busy:
                    self._idle.set()
                    if not done:
                        self._wake.wait(self.idle_sleep)
                        self._wake.clear()
        except BaseException as exc:  # handed to the worker loop, which re-raises it
            self._error = exc
        finally:
            try:
                self._store(self._wait_all())  # calls that answered are kept, not called again
            except Exception:
                log.exception("could not store the last calls; their leases will run out")

    def fill(self) -> int:
        """Start calls for queued requests, keeping up to ``depth`` taken at once.

        Requests are taken in blocks of at least half the concurrency while calls are under
        way: each look is a transaction, and under load this thread competes for the
        interpreter with every call thread, so fewer, larger looks keep the calls fed.
        """
        return self._start(self.store.calls.claim(self._wanted(), self.lease, time.time()))

    def _wanted(self, finishing: int = 0) -> int:
        """How many requests to take now (``finishing`` of those running have answered): none
        while fewer than half the concurrency are free, since each look is a transaction."""
        free = self.depth - len(self._running) + finishing
        if self._running and free < max(1, self.concurrency // 2):
            return 0
        return free

    def _start(self, claimed: list[ClaimedCall]) -> int:
        if claimed:
            self._idle.clear()
        for call in claimed:
            caller = self.callers.get(call.provider)
            if caller is None:
                raise ConfigError(f"no {call.provider} client is configured for this worker")
            future = self._pool.submit(run_call, caller, call, self.policy, stop=self._stop)
            with self._lock:
                self._running[future] = call
        return len(claimed)

    def _wait(self, timeout: float | None) -> list[futures.Future[CallRecord]]:
        with self._lock:
            running = list(self._running)
        if not running:
            return []
        done, pending = futures.wait(running, timeout, futures.FIRST_COMPLETED)
        if done and pending:
            # Others are about to answer too: wait a moment and store them in the same
            # transaction. The threads never idle meanwhile; requests taken ahead feed them.
            more, _ = futures.wait(pending, GATHER_SECONDS, futures.ALL_COMPLETED)
            done |= more
        return list(done)

    def _wait_all(self) -> list[futures.Future[CallRecord]]:
        with self._lock:
            running = list(self._running)
        futures.wait(running)
        return running

    def _pop(self, done: list[futures.Future[CallRecord]]) -> list[CallRecord]:
        records = []
        with self._lock:
            for future in done:
                call = self._running.pop(future, None)
                try:
                    records.append(future.result())
                except Exception:  # run_call never raises; if it ever did, the lease runs out
                    log.exception("call for request %s failed unexpectedly", call)
        return records

    def _store(self, done: list[futures.Future[CallRecord]]) -> None:
        records = self._pop(done)
        if records:
            self.counts.add(self.store.calls.finish(records, self.retry))

    def _upkeep(self) -> None:
        """Now and then: keep our leases, and take back calls whose worker died."""
        now = time.monotonic()
        if now - self._last_upkeep < min(self.lease / 3, 30.0):
            return
        self._last_upkeep = now
        with self._lock:
            ids = [call.request_id for call in self._running.values()]
        self.store.calls.renew(ids, self.lease)
        requeued = self.store.calls.requeue_stale(time.time())
        if requeued:
            log.warning("%d calls of a stopped worker went back to the queue", requeued)

    # -- what the worker loop sees ----------------------------------------------------------

    def nudge(self) -> None:
        """Look for new work now (e.g. the deadline guard just moved requests here)."""
        self._idle.clear()
        self._wake.set()

    @property
    def idle(self) -> bool:
        """Nothing running, and the last look for queued calls found none."""
        return self._idle.is_set()

    def wait_idle(self, timeout: float) -> None:
        self._idle.wait(timeout)

    @property
    def busy(self) -> bool:
        with self._lock:
            return bool(self._running)

    def check(self) -> None:
        if self._error is not None:
            raise self._error

    def run_once(self) -> None:
        """One round without the feeder thread: start what is queued, wait, store."""
        self.fill()
        self._store(self._wait_all())
        self._upkeep()

    def close(self) -> None:
        """Stop taking work; finish and store the calls under way."""
        self._stop.set()
        self._wake.set()
        self._idle.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        else:
            self._store(self._wait_all())
        self._pool.shutdown(wait=True)
