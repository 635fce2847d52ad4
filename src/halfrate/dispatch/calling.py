"""One synchronous call, start to end: its retries, and its flex fallback.

Transient failures (429, 5xx, timeouts, a stream cut short) are tried again in place, waiting
what the provider asked for (``Retry-After``) or a growing backoff, up to a cap on tries and on
any single wait; a wait longer than that cap ends the call, and the request waits in the queue
instead of holding a thread. A flex call that finds no flex capacity falls back at once, to
realtime or to the batch lane, as its route says.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import orjson

from halfrate.config import Settings
from halfrate.models import Lane, Verdict
from halfrate.providers.sync import SyncCaller
from halfrate.store.calls import CallRecord, ClaimedCall


@dataclass(frozen=True)
class CallPolicy:
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


def run_call(
    caller: SyncCaller,
    claimed: ClaimedCall,
    policy: CallPolicy,
    *,
    stop: threading.Event | None = None,
    batch_fallback: bool = True,
) -> CallRecord:
    """Call ``claimed`` until it succeeds, fails for good, or should wait in the queue.

    ``batch_fallback``: whether a flex request may fall back to the batch lane (not when a
    person is waiting on this very call).
    """
    body: dict[str, Any] = orjson.loads(claimed.body_json)
    record = CallRecord(claimed.request_id)
    lane = claimed.lane
    retries = 0
    stop = stop or threading.Event()
    while True:
        attempt = caller.call(claimed.endpoint, body, lane)
        record.tries.append(attempt)
        if attempt.flex_unavailable:
            fallback = claimed.fallback or Lane.REALTIME
            if fallback is Lane.BATCH and batch_fallback:
                record.to_batch = True
                return record
            lane = Lane.REALTIME  # at once: no flex capacity is not a reason to wait
            continue
        if attempt.verdict is not Verdict.RETRY or retries >= policy.max_retries:
            return record
        wait = attempt.retry_after
        if wait is None:
            wait = policy.backoff * (2**retries)
        if wait > policy.max_wait:
            return record  # the queue waits for it (not_before), not a worker thread
        retries += 1
        if stop.wait(wait):
            return record
