"""One batch and its state machine, advanced lazily from the clock.

There are no background threads: whenever a batch is read, :meth:`BatchRecord.advance` applies
every transition whose time has come. With a latency ``L``, each phase lasts ``L / 3``::

    created ──L/3──► in_progress ──L/3──► finalizing ──L/3──► completed
       └─(invalid file)──► failed          cancel ──► cancelling ──C──► cancelled

``C`` is the app's ``cancel_latency`` (default ``L / 3``).

A batch not finished 24 hours after creation expires (only possible when ``L`` exceeds a day).
Transition timestamps are the scheduled times, not the time the batch happened to be read, so a
batch looks the same however often it is polled. Each record has its own lock, so concurrent
readers never run a batch twice and a long run blocks only readers of that batch.

Batch faults (:class:`BatchPlan`, rolled at create) bend this: ``batch_invalid`` fails a valid
file at the end of validation; ``expire_partway`` expires the batch half-way through
``in_progress`` with half its lines run (so ``expired_at`` comes before ``expires_at``: the
sandbox compresses the 24 hours); ``slow_finalizing`` lengthens ``finalizing`` by
``finalizing_seconds``. Line faults are rolled when validation ends, so the moving counts already
reflect them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from halfrate.sandbox.common.batching import WINDOW_SECONDS, execution_order
from halfrate.sandbox.common.jsondata import JSON
from halfrate.sandbox.common.ledger import BatchBlock, Ledger
from halfrate.sandbox.faults.dice import NO_PLAN, BatchPlan, FaultDice, invalid_lines
from halfrate.sandbox.openai.execute import BatchRun, missing_prefix, run_batch, success_prefix
from halfrate.sandbox.openai.prompt_cache import PromptCache
from halfrate.sandbox.openai.validation import Task, validate
from halfrate.sandbox.openai.wire import ApiError, responses_usage

TERMINAL = frozenset({"failed", "completed", "expired", "cancelled"})
_TIMESTAMPS = (
    "in_progress",
    "finalizing",
    "completed",
    "failed",
    "expired",
    "cancelling",
    "cancelled",
)

# Stores an output or error file: (bytes, filename) -> file id.
Publish = Callable[[bytes, str], str]

INVALID_MESSAGE = (
    "This line was rejected: its request is not valid (halfrate sandbox fault injection)."
)


def not_found_batch(batch_id: str) -> ApiError:
    return ApiError(404, f"No batch found with id '{batch_id}'.", param="batch_id")


@dataclass(eq=False)
class BatchRecord:
    id: str
    endpoint: str
    input_file_id: str
    input_data: bytes
    metadata: dict[str, str] | None
    created: float
    seq: int
    latency: float
    window: float = WINDOW_SECONDS  # the completion window: unfinished work expires after it
    output_expires_after: int | None = None  # seconds the output and error files live
    cancel_latency: float | None = None  # seconds spent cancelling (None: a third of latency)
    ledger: Ledger | None = None  # where the lines are recorded once the batch ends
    plan: BatchPlan = NO_PLAN  # what the batch faults do to this batch
    dice: FaultDice | None = None  # rolls the line faults when validation ends
    hidden_reads: int = 0  # retrieves still to answer 404 (batch_404)
    cache: PromptCache | None = None  # the app's prompt cache, which the lines read and write
    status: str = "validating"
    times: dict[str, float] = field(default_factory=dict)
    errors: list[JSON] | None = None
    model: str | None = None
    tasks: list[Task] | None = None
    prefix: list[int] | None = None  # prefix[k]: successes among the first k tasks run
    missing: list[int] | None = None  # missing[k]: lost lines among them (None: there are none)
    hits: dict[int, str] | None = None  # line faults by task index (None: there are none)
    stopped_done: int = 0  # tasks finished when a cancel or expiry stopped the batch
    final_counts: tuple[int, int, int] = (0, 0, 0)  # total, completed, failed once terminal
    usage: tuple[int, int, int, int] = (0, 0, 0, 0)  # input, output, cached, written (terminal)
    output_file_id: str | None = None
    error_file_id: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def phase(self) -> float:
        return self.latency / 3

    @property
    def cancel_duration(self) -> float:
        return self.phase if self.cancel_latency is None else self.cancel_latency

    @property
    def expires(self) -> float:
        return self.created + self.window

    def _scheduled(self) -> float:
        """When the current (non-terminal, non-cancelling) status ends."""
        steps = {"validating": 1, "in_progress": 2, "finalizing": 3}[self.status]
        extra = self.plan.finalizing_extra if self.status == "finalizing" else 0.0
        return self.created + steps * self.phase + extra

    # -- transitions (call with the lock held) ---------------------------------------------

    def advance(self, now: float, publish: Publish) -> None:
        """Apply every transition due at ``now``."""
        while self.status not in TERMINAL:
            if self.status == "cancelling":
                due = self.times["cancelling"] + self.cancel_duration
                if now < due:
                    return
                self._stop("cancelled", due, publish)
                continue
            due = self._scheduled()
            if self.expires < due and now >= self.expires:
                self.stopped_done = self._done_at(self.expires)
                self._stop("expired", self.expires, publish)
                continue
            if self.status == "in_progress" and self.plan.expire_partway:
                # Half-way through in_progress (at once with no latency), half the lines done.
                at = self.times["in_progress"] + self.phase / 2
                if now >= at:
                    assert self.tasks is not None
                    self.stopped_done = len(self.tasks) // 2
                    self._stop("expired", at, publish, "expire_partway")
                    continue
            if now < due:
                return
            if self.status == "validating":
                self._validate(due)
            elif self.status == "in_progress":
                self.status = "finalizing"
                self.times["finalizing"] = due
            else:
                self._finish(self._run(None, "batch_cancelled"), "completed", due, publish)

    def cancel(self, now: float, publish: Publish) -> None:
        """Ask to cancel; raises a 400 :class:`ApiError` when the batch already ended."""
        self.advance(now, publish)
        if self.status in TERMINAL:
            raise ApiError(
                400,
                f"Cannot cancel batch {self.id}: it has already ended with status '{self.status}'.",
                code="batch_not_cancellable",
            )
        if self.status == "cancelling":
            return  # a second cancel changes nothing
        self.stopped_done = self._done_at(now)
        self.status = "cancelling"
        self.times["cancelling"] = now

    def _validate(self, at: float) -> bool:
        result = validate(self.input_data, self.endpoint)
        self.input_data = b""  # parsed now; drop our reference to the bytes
        if not result.ok:
            self.status = "failed"
            self.times["failed"] = at
            self.errors = result.errors
            return False
        if self.plan.invalid:
            return self._fail_lines(result.tasks, at)
        self.tasks = result.tasks
        self.model = result.model
        if self.dice is not None and self.dice.line_kinds["openai"]:
            self.hits = self.dice.lines("openai", [task.body for task in self.tasks])
        order = execution_order(self.plan.order_key(self.id), len(self.tasks))
        self.prefix = success_prefix(self.endpoint, self.tasks, order, self.hits)
        self.missing = missing_prefix(order, self.hits)
        self.status = "in_progress"
        self.times["in_progress"] = at
        return True

    def _fail_lines(self, tasks: list[Task], at: float) -> bool:
        """batch_invalid: fail a valid file as if 1 to 3 of its lines were not."""
        lines = invalid_lines(self.plan, [task.line for task in tasks])
        self.errors = [
            {"code": "invalid_request", "message": INVALID_MESSAGE, "param": "body", "line": line}
            for line in lines
        ]
        self.status = "failed"
        self.times["failed"] = at
        return False

    def _done_at(self, t: float) -> int:
        """How many tasks have run by time ``t`` (the in-progress phase runs them evenly)."""
        if self.tasks is None or self.status == "validating":
            return 0
        total = len(self.tasks)
        if self.status != "in_progress":
            return total
        if self.phase <= 0:
            return total
        fraction = (t - self.times["in_progress"]) / self.phase
        return max(0, min(total, int(total * fraction)))

    def _run(self, done: int | None, stop_code: str, stop_fault: str | None = None) -> BatchRun:
        """Run the lines: the ``k``-th of the order at ``start + (k + 1) * step`` (the times
        the ledger gives them), each reading the prompt cache as it stands then."""
        assert self.tasks is not None
        start = self.times.get("in_progress", self.created)
        return run_batch(
            self.id,
            self.endpoint,
            self.tasks,
            created=int(start),
            done=done,
            stop_code=stop_code,
            hits=self.hits,
            stop_fault=stop_fault,
            order_key=self.plan.order_key(self.id),
            cache=self.cache,
            start=start,
            step=self.phase / len(self.tasks) if self.tasks else 0.0,
        )

    def _stop(self, status: str, at: float, publish: Publish, fault: str | None = None) -> None:
        """End a cancelled or expired batch, keeping what ran before it stopped."""
        if self.tasks is None:
            # Stopped while validating: the file is read now only to name the lines not run.
            valid = self._validate(at)
            self.times.pop("in_progress", None)
            self.times.pop("failed", None)
            if not valid:  # a file that would have failed has nothing to run or keep
                self.errors = None
                self.status = status
                self.times[status] = at
                return
        code = "batch_cancelled" if status == "cancelled" else "batch_expired"
        self._finish(self._run(self.stopped_done, code, fault), status, at, publish)

    def _finish(self, run: BatchRun, status: str, at: float, publish: Publish) -> None:
        if run.output:
            self.output_file_id = publish(run.output, f"batch_{self.id}_output.jsonl")
        if run.errors:
            self.error_file_id = publish(run.errors, f"batch_{self.id}_error.jsonl")
        # Lines lost by missing_lines are in the total but neither completed nor failed.
        self.final_counts = (len(run.rows), run.completed, run.failed)
        self.usage = (
            run.input_tokens,
            run.output_tokens,
            run.cached_tokens,
            run.cache_write_tokens,
        )
        if self.ledger is not None:
            start = self.times.get("in_progress", at)
            step = self.phase / len(run.rows) if run.rows else 0.0
            block = BatchBlock(
                "openai", self.endpoint, self.id, run.rows, run.ran, start, step, at, run.row_faults
            )
            self.ledger.record(block)
        self.status = status
        self.times[status] = at
        # Terminal: the parsed requests are no longer needed.
        self.tasks = self.prefix = self.missing = None
        self.hits = None

    # -- the wire object (call with the lock held, after advance) ----------------------------

    def _counts(self, now: float) -> tuple[int, int, int]:
        if self.status in TERMINAL:
            return self.final_counts
        if self.tasks is None or self.prefix is None:
            return (0, 0, 0)
        done = self.stopped_done if self.status == "cancelling" else self._done_at(now)
        succeeded = self.prefix[done]
        lost = self.missing[done] if self.missing is not None else 0
        return (len(self.tasks), succeeded, done - succeeded - lost)

    def to_wire(self, now: float) -> JSON:
        """The Batch object of docs/openai-batch.md#batch-endpoints."""
        total, completed, failed = self._counts(now)
        input_tokens, output_tokens, cached_tokens, written_tokens = self.usage
        stamps = {
            f"{name}_at": int(self.times[name]) if name in self.times else None
            for name in _TIMESTAMPS
        }
        return {
            "id": self.id,
            "object": "batch",
            "endpoint": self.endpoint,
            "model": self.model,
            "errors": {"object": "list", "data": self.errors} if self.errors else None,
            "input_file_id": self.input_file_id,
            "completion_window": "24h",
            "status": self.status,
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "created_at": int(self.created),
            "in_progress_at": stamps["in_progress_at"],
            "expires_at": int(self.expires),
            "finalizing_at": stamps["finalizing_at"],
            "completed_at": stamps["completed_at"],
            "failed_at": stamps["failed_at"],
            "expired_at": stamps["expired_at"],
            "cancelling_at": stamps["cancelling_at"],
            "cancelled_at": stamps["cancelled_at"],
            "request_counts": {"total": total, "completed": completed, "failed": failed},
            "usage": responses_usage(input_tokens, output_tokens, cached_tokens, written_tokens),
            "metadata": self.metadata,
        }
