"""One synchronous call, start to end: its retries, and its flex fallback.

Transient failures (429, 5xx, timeouts, a stream cut short) are tried again in place, waiting
what the provider asked for (``Retry-After``) or a growing backoff, up to a cap on tries and on
any single wait; a wait longer than that cap ends the call, and the request waits in the queue
instead of holding a thread. A flex call that finds no flex capacity falls back at once, to
realtime or to the batch lane, as its route says.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import orjson

from halfrate.models import CallTry, Lane, Provider, Verdict
from halfrate.prefixes import mark_prefix
from halfrate.providers.sync import SyncCaller
from halfrate.records import CallRecord, ClaimedCall
from halfrate.retry import CallPolicy

log = logging.getLogger(__name__)


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

    Never raises: the call lane stores a whole group of answered calls in one transaction, and
    one call's surprise (a malformed stream the SDK let through) must not lose the others'. An
    unexpected error is a try that may be retried, up to the attempt cap, like any other.
    """
    record = CallRecord(claimed.request_id)
    try:
        return _run(caller, claimed, policy, record, stop or threading.Event(), batch_fallback)
    except Exception as exc:
        log.exception("call for request %d failed unexpectedly", claimed.request_id)
        lane = record.tries[-1].lane if record.tries else claimed.lane
        message = f"halfrate could not handle the answer: {type(exc).__name__}: {exc}"
        record.tries.append(
            CallTry(lane, Verdict.RETRY, error_code="halfrate_error", error_message=message[:500])
        )
        record.to_batch = False
        return record


def _run(
    caller: SyncCaller,
    claimed: ClaimedCall,
    policy: CallPolicy,
    record: CallRecord,
    stop: threading.Event,
    batch_fallback: bool,
) -> CallRecord:
    body: dict[str, Any] = orjson.loads(_marked(claimed))
    lane = claimed.lane
    retries = 0
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
        if attempt.verdict is not Verdict.RETRY:
            return record
        wait = policy.wait_before_retry(retries, attempt.retry_after)
        if wait is None:
            return record  # used up, or the queue waits for it (not_before), not a thread
        retries += 1
        if stop.wait(wait):
            return record


def _marked(claimed: ClaimedCall) -> str:
    """The body to send: its shared prompt prefix marked for the provider's cache, where the
    policy allowed it at submit (docs/prompt-caching.md)."""
    if claimed.prefix_key is None or claimed.prefix_parts is None:
        return claimed.body_json
    return mark_prefix(
        Provider(claimed.provider),
        claimed.endpoint,
        claimed.body_json,
        claimed.prefix_key,
        claimed.prefix_parts,
        claimed.prompt_cache_ttl,
    )
