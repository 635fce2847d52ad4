"""The domain: request and batch states, their allowed transitions, and the value types the public
API hands out. The transition tables here are the only place the state machine is defined; the
store enforces them on every update (``UPDATE ... WHERE state IN allowed_from``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class RequestState(StrEnum):
    QUEUED = "queued"  # accepted, waiting for its lane: a batch, or a call (or its retry time)
    IN_BATCH = "in_batch"  # packed into exactly one live provider batch
    IN_CALL = "in_call"  # a worker is calling the provider synchronously (realtime or flex)
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINAL_REQUEST_STATES = frozenset(
    {RequestState.SUCCEEDED, RequestState.FAILED, RequestState.CANCELLED}
)
# Not final yet: waiting, in a batch, or in a call. Every request is in exactly one of the sets.
OPEN_REQUEST_STATES = frozenset(RequestState) - FINAL_REQUEST_STATES

REQUEST_TRANSITIONS: dict[RequestState, frozenset[RequestState]] = {
    RequestState.QUEUED: frozenset(
        {
            RequestState.IN_BATCH,
            RequestState.IN_CALL,
            # answered without being sent: by the response cache, or by an identical request
            RequestState.SUCCEEDED,
            RequestState.FAILED,
            RequestState.CANCELLED,
        }
    ),
    RequestState.IN_BATCH: frozenset(
        {
            # retry; its batch never reached the provider; or the deadline guard took it out
            RequestState.QUEUED,
            RequestState.SUCCEEDED,
            RequestState.FAILED,
            RequestState.CANCELLED,
        }
    ),
    RequestState.IN_CALL: frozenset(
        {
            # retry later, a fallback to another lane, or the calling worker's lease ran out
            RequestState.QUEUED,
            RequestState.SUCCEEDED,
            RequestState.FAILED,
            RequestState.CANCELLED,
        }
    ),
    RequestState.SUCCEEDED: frozenset(),
    RequestState.FAILED: frozenset(),
    RequestState.CANCELLED: frozenset(),
}


class BatchState(StrEnum):
    PENDING = "pending"  # intent recorded, requests assigned; not known to exist at the provider
    SUBMITTED = "submitted"  # exists at the provider; being polled
    INGESTED = "ingested"  # provider batch ended and every line is accounted for
    ABANDONED = "abandoned"  # never created at the provider; its requests went back to the queue


BATCH_TRANSITIONS: dict[BatchState, frozenset[BatchState]] = {
    BatchState.PENDING: frozenset({BatchState.SUBMITTED, BatchState.ABANDONED}),
    BatchState.SUBMITTED: frozenset({BatchState.INGESTED}),
    BatchState.INGESTED: frozenset(),
    BatchState.ABANDONED: frozenset(),
}


def request_sources(target: RequestState) -> frozenset[RequestState]:
    """The states a request may move to ``target`` from."""
    return frozenset(s for s, nexts in REQUEST_TRANSITIONS.items() if target in nexts)


def batch_sources(target: BatchState) -> frozenset[BatchState]:
    return frozenset(s for s, nexts in BATCH_TRANSITIONS.items() if target in nexts)


class Verdict(StrEnum):
    """What one output line means for its request."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"  # final: the provider rejected the request itself
    RETRY = "retry"  # transient: try again in a later batch, up to the attempt cap
    CANCELLED = "cancelled"


# What a report can be grouped by (`halfrate report --by`, the web page's charts); the ledger's
# reads know each one's column (store/ledger_reads.py GROUPS).
REPORT_GROUPS: tuple[str, ...] = ("feature", "team", "model", "lane", "provider", "day")


class Lane(StrEnum):
    REALTIME = "realtime"
    FLEX = "flex"
    BATCH = "batch"
    CACHE = "cache"  # answered by an identical request's answer, at no cost


class CacheKind(StrEnum):
    """How a cache-lane request got its answer."""

    DEDUP = "dedup"  # an identical request was in flight when it came: one was sent for both
    RESPONSE = "response"  # an identical request had been answered already (the response cache)


SYNC_LANES = frozenset({Lane.REALTIME, Lane.FLEX})  # lanes answered by a synchronous call


class Provider(StrEnum):
    OPENAI = "openai"
    ANTHROPIC = "anthropic"


ANTHROPIC_MESSAGES = "/v1/messages"


@dataclass(frozen=True)
class RequestSpec:
    """One LLM call as the caller describes it: the provider's own request body, unchanged.

    ``feature``, ``team``, ``tags``, ``deadline`` (``6h``, ``06:00``, ISO 8601, or a datetime)
    and ``waiting`` (a person is waiting for the answer) are what the routing policy reads; a
    value given here wins over the one given for the whole submission.
    """

    key: str
    endpoint: str
    body: dict[str, Any]
    provider: Provider | str = Provider.OPENAI
    feature: str | None = None
    team: str | None = None
    tags: dict[str, str] | None = None
    deadline: str | datetime | None = None
    waiting: bool | None = None

    @property
    def model(self) -> str:
        model = self.body.get("model")
        return model if isinstance(model, str) else ""


@dataclass(frozen=True)
class Usage:
    """Tokens of one answer, the same shape for every provider.

    ``input_tokens`` counts the whole prompt, cached parts included (OpenAI's shape);
    ``cached_tokens`` is the part read from the prompt cache and ``cache_write_tokens`` the part
    written to it (``cache_write_1h_tokens`` of which with a one-hour lifetime).
    """

    input_tokens: int = 0
    cached_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0


@dataclass(frozen=True)
class CallTry:
    """One HTTP try of a synchronous call."""

    lane: Lane
    verdict: Verdict
    status_code: int | None = None
    response_json: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    usage: Usage | None = None
    ttft: float | None = None
    tibt: float | None = None
    duration: float | None = None
    retry_after: float | None = None  # what the provider asked us to wait, if it said
    flex_unavailable: bool = False


@dataclass(frozen=True)
class SubmitOutcome:
    job_id: str
    job_name: str
    created: int  # requests stored by this call
    existing: int  # requests that were already stored under the same keys
    # Of those created: requests that take an identical request's answer (lane cache), so
    # are not sent themselves.
    shared: int = 0


@dataclass(frozen=True)
class BatchView:
    """One provider batch as a job's status and progress show it."""

    id: str
    provider: str
    endpoint: str
    model: str
    state: str
    provider_batch_id: str | None
    provider_status: str | None
    request_count: int
    created_at: float
    last_error: str | None
    # The provider's own counts at the last poll (None until a poll reported them): they move
    # while the batch runs, long before its results are stored.
    completed_count: int | None = None
    failed_count: int | None = None
    next_poll_at: float | None = None  # when the worker next looks at it (None once it ended)


@dataclass(frozen=True)
class Moved:
    """Requests that left the lane their rule chose, and what that cost beyond the plan."""

    why: str  # deadline_guard | flex_unavailable
    rule: str | None  # the rule that had chosen the lane they left
    requests: int
    extra_nano: int | None  # paid minus what the same tokens cost in the chosen lane


@dataclass(frozen=True)
class SinkView:
    """Where a job's results are written back, and how far that got."""

    id: str
    spec: str  # safe to show (a webhook's query string hidden)
    delivered: int
    pending: int  # results not yet delivered
    failing: int  # of which the last try failed
    last_error: str | None


@dataclass(frozen=True)
class JobStatus:
    id: str
    name: str
    created_at: float
    feature: str | None
    team: str | None
    counts: dict[str, int]  # request state -> number of requests
    batches: list[BatchView] = field(default_factory=list)
    lanes: dict[str, int] = field(default_factory=dict)  # lane it runs in -> requests
    moved: list[Moved] = field(default_factory=list)  # requests that left their route's lane
    sinks: list[SinkView] = field(default_factory=list)
    cancelled_at: float | None = None  # when `halfrate cancel` was run for it

    @property
    def undelivered(self) -> int:
        return sum(s.pending for s in self.sinks)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def done(self) -> bool:
        return all(RequestState(s) in FINAL_REQUEST_STATES for s, n in self.counts.items() if n)


@dataclass(frozen=True)
class Result:
    """The final answer for one request."""

    key: str
    status: str
    status_code: int | None
    response: dict[str, Any] | None
    error: dict[str, Any] | None


@dataclass(frozen=True)
class CancelOutcome:
    """What cancelling a job did."""

    job_id: str
    cancelled: int  # queued requests that ended cancelled now
    in_flight: int  # requests in a batch or a call: kept if they finish, cancelled if not
    batches: int  # batches to cancel at the provider (or never to create)
    finished: int  # requests that had already finished: kept
