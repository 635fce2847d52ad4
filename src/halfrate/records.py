"""The value types halfrate's layers hand each other: a checked request line and the route the
policy chose for it, a batch as the store keeps it, what came back for a line or a call, and the
counts a worker pass adds up.

Plain data, no I/O: the store fills and reads them, the dispatcher and the use cases pass them
around, and none of them needs to know where the others live. The types the public API hands
out are in :mod:`halfrate.models`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson

from halfrate.models import CallTry, Lane, Provider, RequestState, Result, Usage, Verdict

# -- a request on its way in --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PrefixTag:
    """A prefix a request shares with other requests (docs/prompt-caching.md)."""

    key: str  # the group's digest: requests with the same key share the prefix exactly
    tokens: int  # about how many prompt tokens it holds
    # How many leading parts it spans, where halfrate may mark it (None: the body is sent
    # unchanged, because the caller marked it or the policy says so).
    parts: int | None


@dataclass(frozen=True)
class RouteChoice:
    """What the policy decided for a kind of request; stored once, shared by its requests."""

    lane: Lane
    model: str
    rule_number: int | None
    rule_name: str | None
    source: str
    line: int | None
    explanation: str
    fallback: Lane | None
    waiting: bool
    cache: bool = True  # its requests may share answers with identical ones
    prompt_cache: bool = True  # a shared prefix may be marked for the provider's prompt cache
    prompt_cache_ttl: str = "5m"  # that marker's lifetime outside batches


# Not frozen: two are made for each line of a submitted file (parsed, then routed), and a frozen
# dataclass sets each of its fifteen fields through object.__setattr__. Never changed once made.
@dataclass(slots=True)
class ParsedLine:
    """One request, checked and ready to store."""

    line_no: int
    key: str
    provider: Provider
    endpoint: str
    model: str
    body_json: str  # the body exactly as halfrate will send it
    # What routing decided (set by halfrate.routing before the line is stored; None: batch).
    route: RouteChoice | None = None
    requested_model: str | None = None  # the model the caller asked for, when routing changed it
    deadline: float | None = None  # Unix seconds
    guard_at: float | None = None  # from then on the deadline guard may move it to realtime
    tags_json: str | None = None
    feature: str | None = None  # this request's own tags, when they differ from the job's
    team: str | None = None
    content_hash: int | None = None  # what it asks, digested: set when it may share answers
    prefix: PrefixTag | None = None  # the prefix it shares with other requests, if any


@dataclass(frozen=True)
class Sharing:
    """Which identical requests a submission's requests may take their answers from."""

    dedup: bool  # those in flight
    answered_since: float | None  # those answered since then (Unix seconds); None: none


@dataclass(frozen=True)
class Budget:
    """A monthly spending cap on one feature or one team."""

    kind: str  # feature or team
    name: str
    monthly_nano: int

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name!r}"


@dataclass(frozen=True)
class Reservation:
    """What a submission needs of each budget it counts against (nano-dollars)."""

    needs: Sequence[tuple[Budget, int]]
    at: float


# -- batches -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Group:
    """Requests that may share a provider batch."""

    provider: str
    endpoint: str
    model: str | None  # None: every model (a provider whose batches mix models)


@dataclass(frozen=True)
class BatchRecord:
    """One provider batch as the store keeps it."""

    id: str
    provider: str
    endpoint: str
    model: str
    state: str
    request_count: int
    byte_count: int
    provider_batch_id: str | None
    provider_status: str | None
    input_file_id: str | None
    output_file_id: str | None
    error_file_id: str | None
    provider_errors: str | None
    create_started_at: float | None
    submit_failures: int
    poll_count: int
    next_poll_at: float | None
    created_at: float
    cancel_requested_at: float | None
    cancel_reason: str | None

    @classmethod
    def from_row(cls, row: Any) -> BatchRecord:
        """From a row (or any object) with an attribute per field."""
        return cls(**{name: getattr(row, name) for name in cls.__dataclass_fields__})


class CreateStart(StrEnum):
    """Whether a worker may send a batch's create now."""

    STARTED = "started"  # recorded: send it
    WAIT = "wait"  # another create of the provider must settle first
    LOST = "lost"  # another worker took the batch's step over: it creates (or finds) the batch


@dataclass(frozen=True)
class UrgentBatch:
    """A batch holding requests whose guard time has come."""

    batch_id: str
    state: str
    provider: str
    provider_batch_id: str | None
    cancel_requested: bool
    urgent: list[int]  # of which past their guard time
    overdue: list[int]  # of which past the point where the guard stops waiting for a cancel


@dataclass(frozen=True)
class BatchToCancel:
    batch_id: str
    state: str
    provider: str
    provider_batch_id: str | None


# -- what came back ----------------------------------------------------------------------------


# Not frozen: one is made per line of every batch output, and a frozen dataclass sets each
# field through object.__setattr__ (twice the cost). Nothing changes one after it is made.
@dataclass(slots=True)
class LineOutcome:
    """What one output or error line of a batch says about its request."""

    request_id: int
    verdict: Verdict
    status_code: int | None = None
    response_json: str | None = None  # the provider's response body, as JSON
    error_code: str | None = None
    error_message: str | None = None
    usage: Usage | None = None
    # A retry through no fault of the request (halfrate cancelled its batch): it spends no
    # attempt and waits for no backoff.
    free: bool = False


@dataclass(frozen=True)
class ClaimedCall:
    """A request taken for a synchronous call."""

    request_id: int
    provider: str
    endpoint: str
    model: str
    body_json: str
    lane: Lane
    fallback: Lane | None  # flex only: where it goes when flex is unavailable
    attempt_count: int
    prefix_key: str | None = None  # the prompt prefix it shares (docs/prompt-caching.md)
    prefix_parts: int | None = None  # where halfrate may mark it (None: the body goes as is)
    prompt_cache_ttl: str = "5m"  # the marker's lifetime, as its route's rule says


@dataclass
class CallRecord:
    """What one taken request came to: its tries, and where it goes next."""

    request_id: int
    tries: list[CallTry] = field(default_factory=list)
    to_batch: bool = False  # flex was unavailable and the policy falls back to batch
    started_at: float = field(default_factory=time.time)  # when its first try began

    @property
    def last(self) -> CallTry:
        return self.tries[-1]


@dataclass(frozen=True, slots=True)
class ResultRow:
    """A request's final state and stored result, as read for an export."""

    key: str
    state: str
    last_error: str | None
    status_code: int | None
    response_json: str | None
    error_json: str | None

    def result(self) -> Result:
        error = orjson.loads(self.error_json) if self.error_json else self.pending_error
        return Result(
            key=self.key,
            status=self.state,
            status_code=self.status_code,
            response=orjson.loads(self.response_json) if self.response_json else None,
            error=error,
        )

    @property
    def pending_error(self) -> dict[str, str | None] | None:
        """For a request without a stored result: why its last attempt did not succeed."""
        if self.state != RequestState.SUCCEEDED and self.last_error:
            return {"code": None, "message": self.last_error}
        return None


@dataclass(frozen=True)
class SinkRow:
    """A sink of a job, as the store keeps it."""

    id: str
    job_id: str
    spec: str
    kind: str
    cursor: str | None


# -- counts ------------------------------------------------------------------------------------


@dataclass
class IngestCounts:
    succeeded: int = 0
    failed: int = 0
    retried: int = 0
    cancelled: int = 0
    ignored: int = 0  # lines for requests this batch no longer owns (duplicates, re-ingestion)
    # CPU seconds of the thread doing each stage of ingestion: parse, match, attempts, rollups,
    # results, moves, commit (bench/workers.py prints them: where the next bottleneck is).
    seconds: dict[str, float] = field(default_factory=dict, compare=False, repr=False)

    def add(self, other: IngestCounts) -> None:
        self.succeeded += other.succeeded
        self.failed += other.failed
        self.retried += other.retried
        self.cancelled += other.cancelled
        self.ignored += other.ignored
        for stage, spent in other.seconds.items():
            self.spend(stage, spent)

    def spend(self, stage: str, seconds: float) -> None:
        """Count ``seconds`` of CPU time as ``stage``'s."""
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds

    @contextlib.contextmanager
    def timing(self, stage: str) -> Iterator[None]:
        """Count the CPU time this thread spends in the block as ``stage``'s."""
        started = time.thread_time()
        try:
            yield
        finally:
            self.spend(stage, time.thread_time() - started)


@dataclass
class CallCounts:
    succeeded: int = 0
    failed: int = 0
    retried: int = 0
    to_batch: int = 0

    def add(self, other: CallCounts) -> None:
        self.succeeded += other.succeeded
        self.failed += other.failed
        self.retried += other.retried
        self.to_batch += other.to_batch


@dataclass
class SettleCounts:
    dedup: int = 0  # answered by an identical request that was in flight
    response: int = 0  # answered from the response cache
    released: int = 0  # the identical request failed or was cancelled: runs by itself

    @property
    def answered(self) -> int:
        return self.dedup + self.response


def error_json(code: str | None, message: str | None) -> str:
    """A failed request's stored error: the provider's code and message."""
    return orjson.dumps({"code": code, "message": message}).decode()
