"""What an injected fault looks like on the wire, for each provider.

``sync_429`` and ``http_429``: OpenAI 429 ``rate_limit_exceeded`` / Anthropic 429
``rate_limit_error``, with ``retry-after`` (decimal seconds) and ``retry-after-ms`` headers, which
both SDKs honour. ``sync_500`` and ``http_500``: OpenAI 500 ``server_error`` / Anthropic 500
``api_error``. ``sync_529``: Anthropic 529 ``overloaded_error``. ``flex_unavailable``: OpenAI 429
``resource_unavailable`` (see :mod:`halfrate.sandbox.openai.tiers`), without Retry-After. None of
them is charged.

A failing batch line carries the same error bodies: an OpenAI error-file line with
``response.status_code`` 429, 500 or 400 and ``{"error": {...}}`` as ``response.body``
(:data:`OPENAI_LINE_ERRORS`); an Anthropic ``errored`` result whose error type is
``rate_limit_error``, ``api_error`` or ``invalid_request_error`` (:func:`anthropic_line_error`).
``api_error`` rather than ``overloaded_error`` for ``line_500``: it is the type Anthropic gives
an internal failure, and the one its guide says to retry as is.

Each provider builds its answers in its own package (:mod:`halfrate.sandbox.openai.fault_answers`,
:mod:`halfrate.sandbox.anthropic.fault_answers`); what they share is here.
"""

from __future__ import annotations

from collections.abc import Callable

from halfrate.sandbox.common.jsondata import JSON
from halfrate.sandbox.faults.spec import Faults

MARK = "(halfrate sandbox fault injection)"

# The sync fault whose answer an HTTP fault gives: the same status, body and headers.
SYNC_TWIN = {"http_429": "sync_429", "http_500": "sync_500"}

# One provider's answer to an ``http_429`` or ``http_500`` (kind, faults, request id):
# its status, body and headers.
HttpAnswer = Callable[[str, Faults, str], tuple[int, JSON, dict[str, str]]]


def retry_headers(seconds: float) -> dict[str, str]:
    return {"retry-after": f"{seconds:g}", "retry-after-ms": str(round(seconds * 1000))}
