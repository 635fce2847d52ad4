"""What an injected fault looks like on the wire, for each provider.

``sync_429`` and ``http_429``: OpenAI 429 ``rate_limit_exceeded`` / Anthropic 429
``rate_limit_error``, with ``retry-after`` (decimal seconds) and ``retry-after-ms`` headers, which
both SDKs honour. ``sync_500`` and ``http_500``: OpenAI 500 ``server_error`` / Anthropic 500
``api_error``. ``sync_529``: Anthropic 529 ``overloaded_error``. ``flex_unavailable``: OpenAI 429
``resource_unavailable`` (see :mod:`tiers`), without Retry-After. None of them is charged.

A failing batch line carries the same error bodies: an OpenAI error-file line with
``response.status_code`` 429, 500 or 400 and ``{"error": {...}}`` as ``response.body``
(:data:`OPENAI_LINE_ERRORS`); an Anthropic ``errored`` result whose error type is
``rate_limit_error``, ``api_error`` or ``invalid_request_error`` (:func:`anthropic_line_error`).
``api_error`` rather than ``overloaded_error`` for ``line_500``: it is the type Anthropic gives
an internal failure, and the one its guide says to retry as is.
"""

from __future__ import annotations

from halfrate.sandbox.anthropic_wire import AnthropicError
from halfrate.sandbox.faults import Faults, kinds_for
from halfrate.sandbox.tiers import flex_unavailable
from halfrate.sandbox.wire import JSON, ApiError, error_body

MARK = "(halfrate sandbox fault injection)"

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

_ANTHROPIC_LINE_ERRORS = {
    "line_429": (
        429,
        "rate_limit_error",
        f"This request would exceed the rate limit for your organization {MARK}.",
    ),
    "line_500": (500, "api_error", f"Internal server error {MARK}"),
    "line_invalid": (
        400,
        "invalid_request_error",
        f"This request is invalid and will fail again if sent unchanged {MARK}.",
    ),
}

# Fault kinds each provider's synchronous calls can meet, in the order they are tried.
OPENAI_SYNC = kinds_for("sync", "openai")
OPENAI_FLEX = (*kinds_for("flex", "openai"), *OPENAI_SYNC)
ANTHROPIC_SYNC = kinds_for("sync", "anthropic")


def retry_headers(seconds: float) -> dict[str, str]:
    return {"retry-after": f"{seconds:g}", "retry-after-ms": str(round(seconds * 1000))}


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


def anthropic_fault(kind: str, faults: Faults) -> AnthropicError:
    if kind == "sync_429":
        return AnthropicError(
            429,
            "This request would exceed the rate limit for your organization (halfrate sandbox "
            "fault injection). Please retry after the time in the retry-after header.",
            "rate_limit_error",
            retry_headers(faults.retry_after),
        )
    if kind == "sync_500":
        message = "Internal server error (halfrate sandbox fault injection)"
        return AnthropicError(500, message, "api_error")
    if kind == "sync_529":
        message = "Overloaded (halfrate sandbox fault injection)"
        return AnthropicError(529, message, "overloaded_error")
    raise ValueError(f"fault {kind!r} does not apply to Anthropic calls")


def anthropic_line_error(kind: str) -> AnthropicError:
    """The error of an Anthropic batch request failed by line fault ``kind``."""
    status, error_type, message = _ANTHROPIC_LINE_ERRORS[kind]
    return AnthropicError(status, message, error_type)


def http_fault(
    kind: str, faults: Faults, *, anthropic: bool, request_id: str
) -> tuple[int, JSON, dict[str, str]]:
    """Status, body and headers of an ``http_429`` or ``http_500`` answer: the same as the
    matching sync fault's."""
    same = {"http_429": "sync_429", "http_500": "sync_500"}[kind]
    if anthropic:
        error = anthropic_fault(same, faults)
        return error.status, error.body(request_id), error.headers
    failure = openai_fault(same, faults)
    return failure.status, failure.body(), failure.headers or {}
