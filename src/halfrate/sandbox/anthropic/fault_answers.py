"""What an injected fault looks like on Anthropic's wire (see
:mod:`halfrate.sandbox.faults.answers`): the answers of sync calls, batch requests and the
Message Batches routes."""

from __future__ import annotations

from halfrate.sandbox.anthropic.wire import AnthropicError
from halfrate.sandbox.common.jsondata import JSON
from halfrate.sandbox.faults.answers import MARK, SYNC_TWIN, retry_headers
from halfrate.sandbox.faults.spec import Faults, kinds_for

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

# Fault kinds Anthropic's synchronous calls can meet, in the order they are tried.
ANTHROPIC_SYNC = kinds_for("sync", "anthropic")


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


def http_fault(kind: str, faults: Faults, request_id: str) -> tuple[int, JSON, dict[str, str]]:
    """Status, body and headers of an ``http_429`` or ``http_500`` answer: the same as the
    matching sync fault's."""
    error = anthropic_fault(SYNC_TWIN[kind], faults)
    return error.status, error.body(request_id), error.headers
