"""What an injected fault looks like on the wire, for each provider.

``sync_429``: OpenAI 429 ``rate_limit_exceeded`` / Anthropic 429 ``rate_limit_error``, with
``retry-after`` (decimal seconds) and ``retry-after-ms`` headers, which both SDKs honour.
``sync_500``: OpenAI 500 ``server_error`` / Anthropic 500 ``api_error``. ``sync_529``: Anthropic
529 ``overloaded_error``. ``flex_unavailable``: OpenAI 429 ``resource_unavailable`` (see
:mod:`tiers`), without Retry-After. None of them is charged.
"""

from __future__ import annotations

from halfrate.sandbox.anthropic_wire import AnthropicError
from halfrate.sandbox.faults import Faults, kinds_for
from halfrate.sandbox.tiers import flex_unavailable
from halfrate.sandbox.wire import ApiError

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
