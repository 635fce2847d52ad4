"""Every retry and backoff decision halfrate makes, in one place.

Three clocks wait between tries, each with its own reason:

- a request that ran and may pass later (a 429, a 5xx) goes back to the queue and waits
  ``backoff * 2^attempts``, longer if the provider asked for more, up to an attempt cap after
  which it fails with its last reason (:class:`RetryPolicy`); a request that never ran (its
  batch expired or was cancelled before it, its line is missing from every output) was not
  tried: it goes back at once without spending an attempt, with a separate, generous cap so
  that a provider that never runs a line cannot keep it in the queue for ever;
- a synchronous call is tried again in place, briefly, while a person may be waiting
  (:class:`CallPolicy`); a wait longer than its cap hands the request back to the queue;
- a provider batch is polled at a growing interval (:func:`poll_delay`).

Nothing here touches the store or the network: the store and the dispatcher ask these functions
and do what they say.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from halfrate.config import Settings
from halfrate.models import Verdict
from halfrate.records import LineOutcome

NO_REASON = "no reason given"
# Error codes of batch lines the provider never ran: OpenAI's batch_expired and
# batch_cancelled, Anthropic's expired and canceled results, and halfrate's own code for a line
# missing from a batch's output (docs/state-machine.md).
UNRUN_CODES = frozenset(
    {"batch_expired", "batch_cancelled", "expired", "canceled", "missing_output"}
)


@dataclass(frozen=True)
class RetryPolicy:
    """How often a request may be tried, and how long it waits in the queue between tries."""

    max_attempts: int
    backoff_seconds: float
    max_unrun: int = 10  # times a request may go back without having run

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(
            settings.max_attempts, settings.retry_backoff_seconds, settings.max_unrun_requeues
        )

    def exhausted(self, attempts_so_far: int) -> bool:
        """Whether a try that failed transiently was the last one allowed (counting it)."""
        return attempts_so_far + 1 >= self.max_attempts

    def queue_wait(self, attempts_so_far: int, asked: float | None = None) -> float:
        """How long a request waits in the queue before its next try: the backoff doubles with
        each attempt, and is never shorter than what the provider asked for (Retry-After)."""
        return max(self.backoff_seconds * float(2**attempts_so_far), asked or 0.0)


def gave_up(attempts: int, last_message: str | None) -> str:
    """The reason a request fails with once its tries are used up: the count and the last."""
    return f"gave up after {attempts} attempts; last: {last_message or NO_REASON}"


def never_ran(attempts: int, last_message: str | None) -> str:
    """The reason a request fails when it went back unrun too often."""
    return f"never ran in {attempts} batches; last: {last_message or NO_REASON}"


def settle_line(
    outcome: LineOutcome, attempts_so_far: int, policy: RetryPolicy, unrun_so_far: int = 0
) -> LineOutcome:
    """A batch line's outcome as it counts: a retry past the attempt cap becomes a final failure
    carrying the last reason. A free retry (the request never ran) spends no attempt; only past
    the unrun cap (``unrun_so_far`` earlier free returns) does it fail."""
    if outcome.verdict is not Verdict.RETRY:
        return outcome
    if outcome.free:
        if unrun_so_far + 1 < policy.max_unrun:
            return outcome
        message = never_ran(unrun_so_far + 1, outcome.error_message)
    elif not policy.exhausted(attempts_so_far):
        return outcome
    else:
        message = gave_up(attempts_so_far + 1, outcome.error_message)
    return dataclasses.replace(outcome, verdict=Verdict.FAILED, error_message=message, free=False)


def reason(code: str | None, message: str | None) -> str:
    """A try's failure in one line, as ``requests.last_error`` keeps it."""
    prefix = f"{code}: " if code else ""
    return f"{prefix}{message or NO_REASON}"


@dataclass(frozen=True)
class CallPolicy:
    """In-place retries of one synchronous call."""

    max_retries: int  # tries after the first, per call, on transient failures
    max_wait: float  # the longest single wait between tries
    backoff: float  # the first wait when the provider names none; doubles each time

    @classmethod
    def from_settings(cls, settings: Settings) -> CallPolicy:
        return cls(
            max_retries=settings.realtime_max_retries,
            max_wait=settings.realtime_max_wait_seconds,
            backoff=settings.realtime_backoff_seconds,
        )

    def wait_before_retry(self, retries_so_far: int, asked: float | None) -> float | None:
        """Seconds to wait before trying the call again in place, or None when it should not
        be: the retries are used up, or the wait is longer than a thread should hold a call
        (then the queue waits for it instead)."""
        if retries_so_far >= self.max_retries:
            return None
        wait = asked if asked is not None else self.backoff * (2**retries_so_far)
        return None if wait > self.max_wait else wait

    def lease_for(self, longest_call: float) -> float:
        """Long enough for every try and wait of one call, so no worker takes it over
        meanwhile."""
        return (self.max_retries + 1) * longest_call + self.max_retries * self.max_wait


def poll_delay(settings: Settings, tries: int) -> float:
    """How long to wait before asking a provider about a batch again after ``tries`` asks (or
    failed steps): 1.5 times longer each time, up to the poll cap."""
    return float(min(settings.poll_initial_seconds * (1.5**tries), settings.poll_max_seconds))
