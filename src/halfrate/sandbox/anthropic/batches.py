"""One Message Batch and its state machine, advanced lazily from the clock.

See docs/anthropic-batches.md#the-messagebatch-object, #processing-status-and-request-counts
and #cancel-and-delete.

Like the OpenAI side there are no background threads: reading a batch applies every transition
whose time has come. With a latency ``L`` the batch is ``in_progress`` for ``L`` seconds while
its requests complete evenly, in the shuffled order; then it is ``ended`` with every result::

    in_progress ──L──► ended
         └─cancel──► canceling ──C──► ended     (C: cancel latency, default L / 3)
         └─(window passes first)──► ended       (the requests not done are expired)

A cancel keeps the results of the requests done by the cancel time; the rest are canceled.
Batch faults (:class:`BatchPlan`, rolled at create): ``expire_partway`` ends the batch at
``L / 2`` with half its requests done and the rest expired; ``slow_finalizing`` keeps it
``in_progress`` ``finalizing_seconds`` past ``L`` (the requests still complete over ``L``). Line
faults are rolled when the batch ends and its requests run.
``request_counts`` stay all-``processing`` until the batch ends
(docs/anthropic-batches.md#processing-status-and-request-counts). Results are computed when the
batch ends (at the first read after it), each request at its scheduled time, and kept until the
batch is archived, 29 days after creation, or deleted.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from halfrate.sandbox.anthropic.execute import RESULT_TYPES, run_requests
from halfrate.sandbox.anthropic.prompt_cache import PromptCache
from halfrate.sandbox.anthropic.wire import invalid, rfc3339
from halfrate.sandbox.common.jsondata import JSON
from halfrate.sandbox.common.ledger import BatchBlock, Ledger
from halfrate.sandbox.faults.dice import NO_PLAN, BatchPlan, FaultDice

# Results stay available this long after creation
# (docs/anthropic-batches.md#limits-and-retention).
RETENTION_SECONDS = 29 * 24 * 3600
BATCHES_PATH = "/v1/messages/batches"


@dataclass(eq=False)
class MessageBatchRecord:
    id: str
    requests: list[tuple[str, JSON]] | None  # (custom_id, params); dropped once ended
    version: str  # the anthropic-version of the create call; every request runs under it
    created: float
    seq: int
    latency: float
    window: float
    cancel_latency: float | None
    cache: PromptCache
    ledger: Ledger
    plan: BatchPlan = NO_PLAN  # what the batch faults do to this batch
    dice: FaultDice | None = None  # rolls the line faults when the requests run
    hidden_reads: int = 0  # retrieves still to answer 404 (batch_404)
    total: int = 0
    status: str = "in_progress"
    cancel_at: float | None = None
    done_at_cancel: int = 0
    ended_at: float | None = None
    counts: dict[str, int] = field(default_factory=dict)
    results: bytes | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.total = len(self.requests or ())

    @property
    def expires(self) -> float:
        return self.created + self.window

    @property
    def archive_at(self) -> float:
        return self.created + RETENTION_SECONDS

    @property
    def cancel_duration(self) -> float:
        return self.latency / 3 if self.cancel_latency is None else self.cancel_latency

    @property
    def step(self) -> float:
        """Seconds between two requests completing."""
        return self.latency / self.total if self.total else 0.0

    def done_by(self, t: float) -> int:
        """How many requests have completed by time ``t``."""
        if self.latency <= 0:
            return self.total
        fraction = (t - self.created) / self.latency
        return max(0, min(self.total, int(self.total * fraction)))

    # -- transitions (call with the lock held) ---------------------------------------------

    def advance(self, now: float) -> None:
        """Apply every transition due at ``now``."""
        if self.status == "ended":
            if now >= self.archive_at:
                # Archived: the results are gone, the batch stays
                # (docs/anthropic-batches.md#limits-and-retention).
                self.results = None
            return
        if self.status == "canceling":
            assert self.cancel_at is not None
            due = self.cancel_at + self.cancel_duration
            if now >= due:
                self._end(self.done_at_cancel, "canceled", due)
            return
        finish = self.created + self.latency + self.plan.finalizing_extra
        half = self.created + self.latency / 2
        if self.plan.expire_partway and now >= half and half <= self.expires:
            self._end(self.total // 2, "expired", half, "expire_partway")
        elif self.expires < finish and now >= self.expires:
            self._end(self.done_by(self.expires), "expired", self.expires)
        elif now >= finish:
            self._end(None, "canceled", finish)
        if self.status == "ended" and now >= self.archive_at:
            self.results = None

    def cancel(self, now: float) -> None:
        """Ask to cancel; raises a 400 when the batch has already ended."""
        self.advance(now)
        if self.status == "ended":
            raise invalid(
                f"Message Batch {self.id} has already ended; only a batch that is still "
                "processing can be canceled."
            )
        if self.status == "canceling":
            return  # a second cancel changes nothing
        self.status = "canceling"
        self.cancel_at = now
        self.done_at_cancel = self.done_by(now)

    def _end(self, done: int | None, stop: str, at: float, fault: str | None = None) -> None:
        assert self.requests is not None
        hits = None
        if self.dice is not None and self.dice.line_kinds["anthropic"]:
            hits = self.dice.lines("anthropic", [params for _, params in self.requests])
        run = run_requests(
            self.id,
            self.requests,
            self.version,
            self.cache,
            start=self.created,
            step=self.step,
            done=done,
            stop=stop,
            hits=hits,
            stop_fault=fault,
            order_key=self.plan.order_key(self.id),
        )
        ran = self.total if done is None else min(done, self.total)
        block = BatchBlock(
            provider="anthropic",
            endpoint=BATCHES_PATH,
            batch_id=self.id,
            rows=run.rows,
            ran=ran,
            start=self.created,
            step=self.step,
            stopped_at=at,
            faults=run.row_faults,
        )
        self.ledger.record(block)
        self.results = run.results
        self.counts = run.counts
        self.status = "ended"
        self.ended_at = at
        self.requests = None  # ended: the parsed requests are no longer needed

    # -- the wire object (call with the lock held, after advance) ----------------------------

    def to_wire(self, now: float, base_url: str) -> JSON:
        """The MessageBatch object of docs/anthropic-batches.md#the-messagebatch-object.

        ``base_url`` is the sandbox's own address.
        """
        ended = self.status == "ended"
        counts = {"processing": 0 if ended else self.total}
        counts.update((kind, self.counts.get(kind, 0)) for kind in RESULT_TYPES)
        return {
            "id": self.id,
            "type": "message_batch",
            "processing_status": self.status,
            "request_counts": counts,
            "ended_at": rfc3339(self.ended_at) if self.ended_at is not None else None,
            "created_at": rfc3339(self.created),
            "expires_at": rfc3339(self.expires),
            "archived_at": rfc3339(self.archive_at) if now >= self.archive_at else None,
            "cancel_initiated_at": rfc3339(self.cancel_at) if self.cancel_at is not None else None,
            "results_url": f"{base_url}{BATCHES_PATH}/{self.id}/results" if ended else None,
        }
