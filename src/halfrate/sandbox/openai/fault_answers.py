"""What an injected fault looks like on OpenAI's wire (see :mod:`halfrate.sandbox.faults.answers`):
the answers of sync and flex calls, batch lines and the file and batch routes."""

from __future__ import annotations

from halfrate.sandbox.common.jsondata import JSON
from halfrate.sandbox.faults.answers import MARK, SYNC_TWIN, retry_headers
from halfrate.sandbox.faults.spec import Faults, kinds_for
from halfrate.sandbox.openai.tiers import flex_unavailable
from halfrate.sandbox.openai.wire import ApiError, error_body

# Status code and error body of an OpenAI batch line failed by a line fault. A line has no
# headers, so the 429 names no wait.
OPENAI_LINE_ERRORS: dict[str, tuple[int, JSON]] = {
    "line_429": (
        429,
        error_body(
            f"Rate limit reached for requests {MARK}. Please retry the request later.",
            code="rate_limit_exceeded",
            kind="requests",
        ),
    ),
    "line_500": (
        500,
        error_body(
            "The server had an error while processing your request. Sorry about that! " + MARK,
            kind="server_error",
        ),
    ),
    "line_invalid": (
        400,
        error_body(
            f"This request is invalid and will fail again if sent unchanged {MARK}.",
            kind="invalid_request_error",
        ),
    ),
}

# Fault kinds OpenAI's synchronous calls can meet, in the order they are tried.
OPENAI_SYNC = kinds_for("sync", "openai")
OPENAI_FLEX = (*kinds_for("flex", "openai"), *OPENAI_SYNC)


def openai_fault(kind: str, faults: Faults) -> ApiError:
    if kind == "flex_unavailable":
        return flex_unavailable()
    if kind == "sync_429":
        wait = faults.retry_after
        return ApiError(
            429,
            "Rate limit reached for requests (halfrate sandbox fault injection). "
            f"Please try again in {wait:g}s.",
            code="rate_limit_exceeded",
            kind="requests",
            headers=retry_headers(wait),
        )
    if kind == "sync_500":
        return ApiError(
            500,
            "The server had an error while processing your request. Sorry about that! "
            "(halfrate sandbox fault injection)",
            kind="server_error",
        )
    raise ValueError(f"fault {kind!r} does not apply to OpenAI calls")


def http_fault(kind: str, faults: Faults, request_id: str) -> tuple[int, JSON, dict[str, str]]:
    """Status, body and headers of an ``http_429`` or ``http_500`` answer: the same as the
    matching sync fault's (OpenAI's error body carries no request id)."""
    failure = openai_fault(SYNC_TWIN[kind], faults)
    return failure.status, failure.body(), failure.headers or {}
