"""What a progress display says, as plain text: the frame it is drawn from (one read of the
store), and the words for rows done, batches, time and waits. Both the live display and the
plain lines for logs are made of these, so they never say different things."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

WIDTH = 80  # a plain line never runs longer: logs are read in 80-column windows too
LABEL = "progress   "  # the label column of the demo's and run's other lines
MAX_BATCH_LINES = 4  # more live batches than this are summed up in one line
# A wait shorter than this is the worker at work, not waiting: not worth a line.
MIN_WAIT_SECONDS = 1.0
# Provider statuses of a batch that has ended: its results are being fetched and stored.
ENDED_STATUSES = frozenset({"completed", "failed", "expired", "cancelled", "ended"})


@dataclass(frozen=True)
class BatchLine:
    """One live batch as the display names it."""

    number: int  # in the order this display first saw the batches
    provider: str
    state: str  # the provider's status, or ours before the provider has it
    requests: int
    completed: int | None  # the provider's counts at the last poll
    failed: int | None
    next_check: float | None  # the next poll, when one is to come

    @property
    def answered(self) -> int:
        """Lines the provider has finished (answered or failed), as it counts them."""
        return min(self.requests, (self.completed or 0) + (self.failed or 0))

    @property
    def ended(self) -> bool:
        return self.state in ENDED_STATUSES


@dataclass(frozen=True)
class Frame:
    """What the display shows until the next read of the store."""

    read_at: float
    started_at: float  # when this display first saw work
    total: int
    done: int  # requests whose results are stored (succeeded, failed, cancelled)
    counts: Mapping[str, int]
    batches: tuple[BatchLine, ...]
    retrying: int  # requests waiting for their retry time
    retry_at: float | None
    retry_reason: str | None
    rate: float | None  # requests finished a second (the provider's counts included)
    unit: str = "rows"  # what the reader calls a request: rows of a table, requests of a file

    @property
    def answered(self) -> int:
        """Done, plus what the live batches have finished at the provider: what moves while a
        batch runs, long before its results are stored."""
        return min(self.total, self.done + sum(b.answered for b in self.batches))

    @property
    def finished(self) -> bool:
        return self.total > 0 and self.done == self.total and not self.batches

    def expected_at(self) -> float | None:
        """When the rows should all be done at the rate so far; None while there is no rate."""
        remaining = self.total - self.answered
        if remaining <= 0:
            return self.read_at  # all answered: only storing the results is left
        if not self.rate:
            return None
        return self.read_at + remaining / self.rate


def plural(n: int, word: str, words: str | None = None) -> str:
    """'1 batch', '2 batches', '1 request', '12 requests'."""
    if words is None:
        words = word + ("es" if word.endswith(("ch", "sh", "s", "x")) else "s")
    return f"{n:,} {word if n == 1 else words}"


def clock(at: float, now: float) -> str:
    """A moment as a reader's local clock time; with the day when it is not within a day."""
    local = time.localtime(at)
    if abs(at - now) < 20 * 3600:
        return time.strftime("%H:%M:%S", local)
    if abs(at - now) < 6 * 86400:
        return time.strftime("%a %H:%M", local)
    return time.strftime("%d %b %H:%M", local)


def duration(seconds: float) -> str:
    whole = max(0, int(seconds))
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{days}d {text}" if days else text


def rows_done(frame: Frame) -> str:
    return f"{frame.done:,}/{frame.total:,} {frame.unit} done"


def expected(frame: Frame) -> str:
    at = frame.expected_at()
    if at is None:
        return "expected: unknown"
    if frame.retry_at is not None and frame.retry_at > at:
        # Requests waiting for a retry cannot end before it: the rate alone would say sooner.
        return f"expected after {clock(frame.retry_at, frame.read_at)}"
    return f"expected {clock(at, frame.read_at)}"


def outcome(frame: Frame) -> str:
    """How the finished rows ended: '118 succeeded, 2 failed'."""
    parts = [
        f"{frame.counts.get(state, 0):,} {state}"
        for state in ("succeeded", "failed", "cancelled")
        if frame.counts.get(state, 0) or state == "succeeded"
    ]
    return ", ".join(parts)


def batch_name(batch: BatchLine) -> str:
    return f"batch {batch.number}"


def batch_state(batch: BatchLine) -> str:
    return "submitting" if batch.state == "pending" else batch.state


def batch_counts(batch: BatchLine) -> str:
    """The provider's own counts of a batch: '5,000/20,000 at openai, 12 failed'."""
    if batch.state == "pending":
        return f"{plural(batch.requests, 'request')} to {batch.provider}"
    if batch.ended:
        return f"storing {batch.requests:,} results"
    failed = f", {batch.failed:,} failed" if batch.failed else ""
    return f"{batch.answered:,}/{batch.requests:,} at {batch.provider}{failed}"


def shown_batches(frame: Frame) -> tuple[BatchLine, ...]:
    """The live batches given a line each: all, or all but what one more line sums up."""
    if len(frame.batches) <= MAX_BATCH_LINES:
        return frame.batches
    return frame.batches[: MAX_BATCH_LINES - 1]


def more_batches(frame: Frame, shown: int) -> str | None:
    rest = len(frame.batches) - shown
    return f"and {plural(rest, 'more batch')} in flight" if rest > 0 else None


def waiting(frame: Frame, now: float) -> str | None:
    """What the worker waits for while nothing moves, and until when: requests' retry time
    first (that is what holds them up), else the next look at a running batch."""
    if frame.retrying and frame.retry_at is not None:
        verb = "retries" if frame.retrying == 1 else "retry"
        why = f" ({short_reason(frame.retry_reason)})" if frame.retry_reason else ""
        return (
            f"waiting: {plural(frame.retrying, 'request')} {verb} at "
            f"{clock(frame.retry_at, now)}{why}"
        )
    checks = [b for b in frame.batches if b.next_check is not None and not b.ended]
    if not checks:
        return None
    soonest = min(checks, key=lambda b: b.next_check or 0.0)
    assert soonest.next_check is not None
    if soonest.next_check - now < MIN_WAIT_SECONDS:
        return None
    # A batch not at the provider yet waits for its next try to be submitted.
    what = "next try to submit" if soonest.state == "pending" else "next check of"
    return f"waiting: {what} {batch_name(soonest)} at {clock(soonest.next_check, now)}"


_REASONS = (
    (("rate_limit", "rate limit", "429"), "rate limited"),
    (("overloaded", "529"), "provider overloaded"),
    (("timeout", "timed out"), "timed out"),
    (("expired",), "batch expired"),
    (("server_error", "api_error", "500", "502", "503"), "server error"),
)


def short_reason(reason: str | None) -> str:
    """A stored error ('rate_limit_exceeded: Rate limit reached ...') in a few words."""
    if not reason:
        return "failed"
    text = reason.lower()
    code = text.split(":", 1)[0]
    for needles, said in _REASONS:
        # Numbers only count as the error's code, not inside its message ("5000 tokens").
        if any(n in code if n.isdigit() else n in text for n in needles):
            return said
    return fit(code.strip(), 30)


def fit(text: str, width: int = WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def batches_in_short(frame: Frame) -> str | None:
    """The live batches in one line, for a log: 'batch 2 in_progress: 5,000/20,000 at openai'
    for one, '4 batches: 1 finalizing, 3 in_progress; 33/120 done, 14 failed' for more."""
    if not frame.batches:
        return None
    if len(frame.batches) == 1:
        batch = frame.batches[0]
        return f"{batch_name(batch)} {batch_state(batch)}: {batch_counts(batch)}"
    states: dict[str, int] = {}
    for batch in frame.batches:
        states[batch_state(batch)] = states.get(batch_state(batch), 0) + 1
    by_state = ", ".join(f"{n} {state}" for state, n in sorted(states.items()))
    answered = sum(b.answered for b in frame.batches)
    requests = sum(b.requests for b in frame.batches)
    failed = sum(b.failed or 0 for b in frame.batches)
    said = f", {failed:,} failed" if failed else ""
    return (
        f"{plural(len(frame.batches), 'batch')}: {by_state}; {answered:,}/{requests:,} done{said}"
    )


def plain_lines(frame: Frame, now: float, indent: str = "") -> list[str]:
    """The frame as a few lines for a log: rows, the live batches, any wait."""
    head = f"{indent}{LABEL}{rows_done(frame)}"
    if frame.finished:
        took = duration(frame.read_at - frame.started_at)
        return [fit(f"{head} in {took}: {outcome(frame)}")]
    lines = [f"{head}, {duration(now - frame.started_at)}, {expected(frame)}"]
    more = indent + " " * len(LABEL)
    lines += [more + said for said in (batches_in_short(frame), waiting(frame, now)) if said]
    return [fit(line) for line in lines]
