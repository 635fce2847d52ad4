"""Rolling the batch, line, file and HTTP faults: what each roll is keyed on, and its counter.

Every decision is :meth:`Faults.fires` of a digest and that digest's roll count, so it depends on
the seed and on what the client sent, never on the random ids the sandbox hands out:

- a batch line: the digest of its body (OpenAI ``body``, Anthropic ``params``), counted per body,
  so the same body retried in a later batch is a new roll and can succeed;
- a batch: the digest of its content (the input file's bytes and endpoint, or the Anthropic
  requests), counted per content, so resubmitting the same content can succeed;
- an uploaded file: the digest of its bytes, counted per content;
- an HTTP request: its method and route with the ids left out (``GET /v1/batches/{id}``),
  counted per route, so the n-th retrieve of any batch decides alike run after run.

Each family has its own counter, so sync calls, lines and requests never shift each other's n.
When no kind of a family is active, its roll returns at once without digesting anything.

The n of a line is its body's place among the lines run so far, and the n of a request its place
among the requests to its route: a client that does the same things in the same order sees the
same faults every run (in-process or over loopback), while concurrent requests to one route may
trade their decisions.
"""

from __future__ import annotations

import hashlib
import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from halfrate.sandbox.common.jsondata import JSON, body_digest
from halfrate.sandbox.faults.spec import CallCounter, Faults, draw

# Which line fault wins when several fire for one line: a line that never ran cannot also fail.
# line_schema_break comes last, so adding it to a spec never changes what the others do.
LINE_PRECEDENCE = (
    "missing_lines",
    "line_invalid",
    "line_500",
    "line_429",
    "duplicate_lines",
    "line_schema_break",
)
# The line faults that make a line fail (an error-file line, an ``errored`` result).
FAILING_LINE_FAULTS = frozenset({"line_429", "line_500", "line_invalid"})


@dataclass(frozen=True, slots=True)
class BatchPlan:
    """What the batch-level faults do to one batch, rolled once when it is created."""

    invalid: bool = False  # batch_invalid: fails validation, naming some of its lines
    expire_partway: bool = False  # expires after about half its lines ran
    finalizing_extra: float = 0.0  # slow_finalizing: seconds added before it ends
    hidden_reads: int = 0  # batch_404: retrieves answered 404 right after create
    pick: int = 0  # seeds which lines batch_invalid names

    @property
    def stop_fault(self) -> str | None:
        """The fault to blame for lines a batch stopped before running, if one did."""
        return "expire_partway" if self.expire_partway else None

    def order_key(self, batch_id: str) -> str:
        """What seeds the order a batch runs its lines in: its id, except under expire_partway,
        where the order decides which half ran, and a random id would make that vary from run
        to run with the same seed."""
        return f"expire_partway:{self.pick}" if self.expire_partway else batch_id


NO_PLAN = BatchPlan()


def content_digest(*parts: bytes) -> bytes:
    """A 32-byte digest of raw bytes (a file, a batch's requests): cheap even for 200 MB."""
    hasher = hashlib.blake2b(digest_size=32)
    for part in parts:
        hasher.update(len(part).to_bytes(8, "big"))
        hasher.update(part)
    return hasher.digest()


class FaultDice:
    """The roll counters of one sandbox app, and the rolls of its non-sync faults. Thread-safe."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self._lines = CallCounter()
        self._batches = CallCounter()
        self._files = CallCounter()
        self._routes = CallCounter()
        providers = ("openai", "anthropic")
        # The line kinds active per provider, in the order they win: empty means no line rolls.
        self.line_kinds = {
            p: tuple(k for k in LINE_PRECEDENCE if k in faults.active_kinds("line", p))
            for p in providers
        }
        self.http_kinds = {p: faults.active_kinds("http", p) for p in providers}

    def plan(self, provider: str, content: Callable[[], bytes]) -> BatchPlan:
        """Roll the batch-level faults for a new batch; ``content`` gives the digest of what it
        holds, and is called only when a batch fault is active."""
        faults = self.faults
        kinds = faults.active_kinds("batch", provider)
        if not kinds:
            return NO_PLAN
        digest = content()
        n = self._batches.next(digest)
        fired = {kind for kind in kinds if faults.fires(kind, digest, n)}
        if not fired:
            return NO_PLAN
        return BatchPlan(
            invalid="batch_invalid" in fired,
            expire_partway="expire_partway" in fired,
            finalizing_extra=faults.finalizing_seconds if "slow_finalizing" in fired else 0.0,
            hidden_reads=faults.not_found_tries if "batch_404" in fired else 0,
            pick=int(draw(faults.seed, "batch_invalid_lines", digest, n) * 2.0**53),
        )

    def lines(self, provider: str, bodies: Sequence[JSON]) -> dict[int, str] | None:
        """The line fault of each line that meets one, by index into ``bodies``; None when no
        line fault is active (callers check :attr:`line_kinds` first to skip even listing the
        bodies)."""
        kinds = self.line_kinds[provider]
        if not kinds:
            return None
        digests = [body_digest(body) for body in bodies]
        counts = self._lines.next_many(digests)
        first = self.faults.first
        hits: dict[int, str] = {}
        for index, (digest, n) in enumerate(zip(digests, counts, strict=True)):
            kind = first(kinds, digest, n)
            if kind is not None:
                hits[index] = kind
        return hits

    def file_hidden_tries(self, data: bytes) -> int:
        """How many uses of a just-uploaded file answer 404 (file_not_found), usually 0."""
        faults = self.faults
        if not faults.active_kinds("file", "openai"):
            return 0
        digest = content_digest(data)
        if faults.fires("file_not_found", digest, self._files.next(digest)):
            return faults.not_found_tries
        return 0

    def http_fault(self, provider: str, route: str) -> str | None:
        """The HTTP fault this request to ``route`` (method and templated path) meets."""
        kinds = self.http_kinds[provider]
        if not kinds:
            return None
        digest = content_digest(route.encode())
        return self.faults.first(kinds, digest, self._routes.next(digest))


class HidesReads(Protocol):
    """A batch record that batch_404 may hide: its lock and the retrieves still to hide."""

    lock: threading.Lock
    hidden_reads: int


def hide_this_read(record: HidesReads) -> bool:
    """Whether this retrieve of ``record`` answers 404 (batch_404), spending one hidden read."""
    if record.hidden_reads <= 0:  # the common case: no lock taken
        return False
    with record.lock:
        hidden = record.hidden_reads > 0
        if hidden:
            record.hidden_reads -= 1
    return hidden


def invalid_lines(plan: BatchPlan, lines: Sequence[int]) -> list[int]:
    """The 1 to 3 line numbers (of ``lines``, the request lines) that batch_invalid names."""
    rng = random.Random(plan.pick)
    count = min(len(lines), rng.randint(1, 3))
    return sorted(rng.sample(list(lines), count))
