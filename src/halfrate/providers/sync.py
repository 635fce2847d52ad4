"""The contract of a synchronous (realtime or flex) caller, and what its answers mean.

A caller makes exactly one HTTP try per :meth:`SyncCaller.call` (the SDK's own retries are off)
and turns whatever happened into a :class:`CallTry`: a success with its usage and timings, a
final failure with the provider's message, or a retry with the wait the provider asked for.
Retrying is the dispatcher's job, so every try is counted and none is hidden.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from typing import Any, Protocol

from halfrate.models import CallTry, Lane, Usage, Verdict
from halfrate.providers.streams import Timing

# Statuses that say "try again" rather than "your request is wrong".
RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
FLEX_UNAVAILABLE = "resource_unavailable"


class SyncCaller(Protocol):
    name: str

    def call(self, endpoint: str, body: dict[str, Any], lane: Lane) -> CallTry:
        """One try of ``body`` at ``endpoint`` in ``lane`` (realtime, or flex where offered)."""
        ...

    def close(self) -> None: ...


def retry_after(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """Seconds the provider asked us to wait: ``retry-after-ms``, else ``retry-after`` (seconds
    or an HTTP date). None when it did not say, or said something unreadable."""
    if not headers:
        return None
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


def succeeded(lane: Lane, body_json: str, usage: Usage | None, timing: Timing) -> CallTry:
    return CallTry(
        lane=lane,
        verdict=Verdict.SUCCEEDED,
        status_code=200,
        response_json=body_json,
        usage=usage,
        ttft=timing.ttft if timing.ttft is not None else timing.elapsed(),
        tibt=timing.tibt,
        duration=timing.elapsed(),
    )


def refused(
    lane: Lane,
    status: int,
    code: str,
    message: str,
    headers: Mapping[str, str] | None,
    timing: Timing,
    body_json: str | None = None,
) -> CallTry:
    """An HTTP error answer: retried when it may pass, final when the request is wrong."""
    unavailable = lane is Lane.FLEX and status == 429 and _says_unavailable(code, message)
    retry = status in RETRYABLE_STATUS or status >= 500 or status in (401, 403)
    return CallTry(
        lane=lane,
        verdict=Verdict.RETRY if retry else Verdict.FAILED,
        status_code=status,
        response_json=body_json,
        error_code=code,
        error_message=message,
        duration=timing.elapsed(),
        retry_after=retry_after(headers),
        flex_unavailable=unavailable,
    )


def _says_unavailable(code: str, message: str) -> bool:
    return FLEX_UNAVAILABLE in code or "resource unavailable" in message.lower()


def unreachable(lane: Lane, code: str, message: str, timing: Timing) -> CallTry:
    """No answer at all (connection refused, timeout, a stream cut short): may pass."""
    return CallTry(
        lane=lane,
        verdict=Verdict.RETRY,
        error_code=code,
        error_message=message,
        duration=timing.elapsed(),
    )
