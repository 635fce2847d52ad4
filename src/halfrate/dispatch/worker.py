"""The worker loop. Every exit is named: once, until idle, or stopped (SIGINT/SIGTERM or a
caller's event); teardown happens in ``finally``."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from types import FrameType

from halfrate.dispatch.dispatcher import Dispatcher, TickReport
from halfrate.errors import ConfigError
from halfrate.records import CallCounts, IngestCounts

log = logging.getLogger(__name__)

MIN_SLEEP_SECONDS = 0.02


class RunMode(StrEnum):
    ONCE = "once"  # one pass, then exit
    UNTIL_IDLE = "until_idle"  # exit when nothing is queued or in flight
    FOREVER = "forever"  # until stopped


class ExitReason(StrEnum):
    ONCE = "once"
    IDLE = "idle"
    STOPPED = "stopped"


@dataclass
class WorkerSummary:
    exit_reason: ExitReason
    ticks: int = 0
    batches_submitted: int = 0
    batches_ingested: int = 0
    requests_packed: int = 0
    lines: IngestCounts = field(default_factory=IngestCounts)
    calls: CallCounts = field(default_factory=CallCounts)
    moved_by_guard: int = 0
    delivered: int = 0  # results handed to sinks
    delivery_failures: int = 0  # tries that failed (tried again later)
    batches_cancelled_by_guard: int = 0
    shared: int = 0  # requests answered by an identical request's answer
    seconds: float = 0.0
    signal: int | None = None  # the signal that stopped it (SIGINT, SIGTERM), if one did


class Worker:
    def __init__(
        self,
        dispatcher: Dispatcher,
        *,
        idle_sleep: float,
        stop: threading.Event | None = None,
        on_tick: Callable[[TickReport], None] | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        self.idle_sleep = idle_sleep
        self.stop = stop or threading.Event()
        self.on_tick = on_tick
        self.stopped_by: int | None = None

    def preflight(self, provider: str | None = None) -> None:
        """Say now, with one clear error, what would stop this worker: ``provider`` (when
        given) without a client, a provider that cannot be reached or refuses the key, or work
        waiting for a provider this worker has no client for. :meth:`run` checks the same."""
        if provider is not None and provider not in self.dispatcher.providers:
            raise ConfigError(f"no {provider} client: set {provider.upper()}_API_KEY")
        self.dispatcher.preflight()

    def run(self, mode: RunMode) -> WorkerSummary:
        """Work until ``mode`` says to stop (or a signal or the stop event does)."""
        started = time.monotonic()
        summary = WorkerSummary(exit_reason=ExitReason.STOPPED)
        self.dispatcher.preflight()
        restore = self._install_signal_handlers()
        calls = self.dispatcher.calls
        try:
            if mode is not RunMode.ONCE:
                calls.start()
            summary.exit_reason = self._loop(mode, summary)
        finally:
            try:
                # Every exit finishes the ingestion and the calls under way: what was fetched
                # or answered is stored.
                calls.close()
                self._record(summary, self.dispatcher.drain())
                calls.check()
            finally:
                restore()
                summary.calls = calls.counts
                summary.signal = self.stopped_by
            summary.seconds = time.monotonic() - started
        return summary

    def _loop(self, mode: RunMode, summary: WorkerSummary) -> ExitReason:
        queue = self.dispatcher.store.queue
        calls = self.dispatcher.calls
        while not self.stop.is_set():
            report = self.dispatcher.tick()
            summary.ticks += 1
            self._record(summary, report)
            if mode is RunMode.ONCE:
                calls.run_once()
                return ExitReason.ONCE
            deliveries_due = self.dispatcher.deliveries_due()
            if (
                mode is RunMode.UNTIL_IDLE
                and not self.dispatcher.ingesting
                and not calls.busy
                and deliveries_due is None
                and queue.is_idle()
            ):
                return ExitReason.IDLE
            if not report.did_work:
                due = [t for t in (queue.next_due_at(time.time()), deliveries_due) if t is not None]
                sleep = self._sleep_for(min(due) if due else None)
                if self.dispatcher.ingesting:
                    # The batch being ingested still looks due; wait for it, not the clock.
                    self.dispatcher.wait_for_ingest(self.idle_sleep)
                elif not calls.idle:
                    calls.wait_idle(sleep)  # calls answered may leave nothing to do
                else:
                    self.stop.wait(sleep)
        return ExitReason.STOPPED

    def _record(self, summary: WorkerSummary, report: TickReport) -> None:
        summary.batches_submitted += report.submitted
        summary.batches_ingested += report.ingested
        summary.requests_packed += report.packed_requests
        summary.lines.add(report.lines)
        summary.moved_by_guard += report.guard.moved
        summary.delivered += report.delivered.delivered
        summary.delivery_failures += report.delivered.failed
        summary.batches_cancelled_by_guard += report.guard.cancelled
        summary.shared += report.shared.answered
        if self.on_tick is not None:
            self.on_tick(report)

    def _sleep_for(self, due: float | None) -> float:
        if due is None:
            return self.idle_sleep
        return max(MIN_SLEEP_SECONDS, min(self.idle_sleep, due - time.time()))

    def _install_signal_handlers(self) -> Callable[[], None]:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None

        def _stop(signum: int, _frame: FrameType | None) -> None:
            log.info("received %s: stopping after the current step", signal.Signals(signum).name)
            self.stopped_by = signum
            self.stop.set()

        previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}

        def restore() -> None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        return restore
