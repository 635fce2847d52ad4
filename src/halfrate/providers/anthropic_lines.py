"""Anthropic Message Batches, both ways, with no I/O: writing a batch's create body and reading
result lines.

See docs/anthropic-batches.md#the-create-body, #results-jsonl and #prompt-caching-in-batches.
"""

from __future__ import annotations

import logging
from typing import Any, BinaryIO

import orjson

from halfrate.models import Usage, Verdict
from halfrate.providers.base import InputLines, OutputLine
from halfrate.providers.openai_lines import count_of

log = logging.getLogger(__name__)

_OPEN = b'{"requests":['
_CLOSE = b"]}"
_MAX_CUSTOM_ID_DIGITS = 20
# An errored request of any other type (overloaded, api_error, rate limit) may pass on retry.
FINAL_ERROR_TYPES = frozenset({"invalid_request_error", "not_found_error", "permission_error"})


def request_item(custom_id: str, body_json: str) -> bytes:
    # The params go in as stored, byte for byte: halfrate changes the transport, not the request.
    return b"".join(
        (b'{"custom_id":"', custom_id.encode(), b'","params":', body_json.encode(), b"}")
    )


def line_overhead() -> int:
    """Bytes one request adds around its params: the item wrapper and a separating comma."""
    return len(request_item("hr-" + "9" * _MAX_CUSTOM_ID_DIGITS, "")) + 1


def envelope_overhead() -> int:
    return len(_OPEN) + len(_CLOSE)


def write_create_body(lines: InputLines, handle: BinaryIO) -> None:
    """``{"requests": [...]}`` for ``POST /v1/messages/batches``, written streaming."""
    handle.write(_OPEN)
    first = True
    for custom_id, _endpoint, body_json in lines:
        if not first:
            handle.write(b",")
        handle.write(request_item(custom_id, body_json))
        first = False
    handle.write(_CLOSE)


def usage_of(message: Any) -> Usage | None:
    """Normalise a Message's usage: Anthropic counts cached input apart from ``input_tokens``;
    halfrate's ``input_tokens`` is the whole prompt, as OpenAI reports it."""
    usage = message.get("usage") if type(message) is dict else None
    if type(usage) is not dict:
        return None
    fresh = count_of(usage.get("input_tokens"))
    written = count_of(usage.get("cache_creation_input_tokens"))
    read = count_of(usage.get("cache_read_input_tokens"))
    creation = usage.get("cache_creation")
    hour = count_of(creation.get("ephemeral_1h_input_tokens")) if type(creation) is dict else 0
    return Usage(
        input_tokens=fresh + written + read,
        cached_tokens=read,
        output_tokens=count_of(usage.get("output_tokens")),
        reasoning_tokens=0,
        cache_write_tokens=written,
        cache_write_1h_tokens=hour,
    )


def error_of(error: Any) -> tuple[str, str]:
    """(type, message) of an Anthropic error body ``{"type":"error","error":{type, message}}``."""
    inner = error.get("error") if isinstance(error, dict) else None
    if isinstance(inner, dict):
        return str(inner.get("type") or "error"), str(inner.get("message") or "")
    if isinstance(error, dict) and error.get("type") not in (None, "error"):
        return str(error["type"]), str(error.get("message") or "")
    return "error", "the provider gave no reason"


def parse_result_line(line: str) -> OutputLine | None:
    """Classify one results line ``{custom_id, result: {type, ...}}``.

    ``succeeded`` is a success; ``errored`` is final when the request itself is wrong
    (``invalid_request_error``) and retried otherwise; ``canceled`` and ``expired`` never ran
    and are retried (none of the three is billed).
    """
    text = line.strip()
    if not text:
        return None
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError:
        log.warning("unreadable line in batch results: %.200s", text)
        return None
    custom_id = obj.get("custom_id") if isinstance(obj, dict) else None
    result = obj.get("result") if isinstance(obj, dict) else None
    if not isinstance(custom_id, str) or not isinstance(result, dict):
        log.warning("batch result line without custom_id or result: %.200s", text)
        return None
    kind = result.get("type")
    if kind == "succeeded":
        message = result.get("message")
        body = orjson.dumps(message).decode() if message is not None else None
        return OutputLine(custom_id, Verdict.SUCCEEDED, None, body, None, None, usage_of(message))
    if kind == "errored":
        code, message_text = error_of(result.get("error"))
        verdict = Verdict.FAILED if code in FINAL_ERROR_TYPES else Verdict.RETRY
        return OutputLine(custom_id, verdict, None, None, code, message_text, None)
    if kind in ("canceled", "expired"):
        why = "the batch was canceled" if kind == "canceled" else "the batch expired"
        message_text = f"{why} before this request ran"
        return OutputLine(custom_id, Verdict.RETRY, None, None, kind, message_text, None)
    return OutputLine(
        custom_id, Verdict.RETRY, None, None, "unknown_result", f"result type {kind!r}", None
    )
