"""OpenAI Batch API lines, both ways, with no I/O: building input lines and classifying output
and error-file lines.

See docs/openai-batch.md#the-batch-input-file, #output-and-error-files and
#usage-and-cached-tokens.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

from halfrate.models import Usage, Verdict
from halfrate.providers.base import OutputLine

log = logging.getLogger(__name__)

# Error-file codes for lines that never ran: worth another batch.
RETRYABLE_LINE_CODES = frozenset({"batch_expired", "batch_cancelled", "request_timeout"})
# HTTP statuses that say "try again", not "your request is wrong".
RETRYABLE_STATUS = frozenset({408, 409, 429})
_MAX_CUSTOM_ID_DIGITS = 20


def batch_line(custom_id: str, endpoint: str, body_json: str) -> bytes:
    # The body goes in as stored, byte for byte: halfrate changes the transport, not the request.
    return b"".join(
        (
            b'{"custom_id":"',
            custom_id.encode(),
            b'","method":"POST","url":"',
            endpoint.encode(),
            b'","body":',
            body_json.encode(),
            b"}\n",
        )
    )


def line_overhead(endpoint: str) -> int:
    return len(batch_line("hr-" + "9" * _MAX_CUSTOM_ID_DIGITS, endpoint, ""))


def usage_of(body: Any) -> Usage | None:
    """Normalise the usage of a chat, responses or embeddings body."""
    usage = body.get("usage") if type(body) is dict else None
    if type(usage) is not dict:
        return None
    if "input_tokens" in usage:  # Responses API shape
        inputs, outputs = "input_tokens", "output_tokens"
        in_details = usage.get("input_tokens_details")
        out_details = usage.get("output_tokens_details")
    else:
        inputs, outputs = "prompt_tokens", "completion_tokens"
        in_details = usage.get("prompt_tokens_details")
        out_details = usage.get("completion_tokens_details")
    details = in_details if type(in_details) is dict else {}
    return Usage(
        input_tokens=count_of(usage.get(inputs)),
        cached_tokens=count_of(details.get("cached_tokens")),
        # Written to the prompt cache: billed (at 1.25x input) by the models that charge for
        # writes, part of the input like cached_tokens (docs/openai-batch.md).
        cache_write_tokens=count_of(details.get("cache_write_tokens")),
        output_tokens=count_of(usage.get(outputs)),
        reasoning_tokens=(
            count_of(out_details.get("reasoning_tokens")) if type(out_details) is dict else 0
        ),
    )


def count_of(value: Any) -> int:
    return value if type(value) is int else 0  # exactly int: a JSON true is not a count


def parse_output_line(line: str) -> OutputLine | None:
    """Classify one output/error-file line. A line succeeded only if ``error`` is null *and* the
    status code is 2xx."""
    text = line.strip()
    if not text:
        return None
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError:
        log.warning("unreadable line in a batch output file: %.200s", text)
        return None
    custom_id = obj.get("custom_id") if isinstance(obj, dict) else None
    if not isinstance(custom_id, str):
        log.warning("batch output line without a custom_id: %.200s", text)
        return None
    error = obj.get("error")
    response = obj.get("response")
    if isinstance(error, dict):
        code = str(error.get("code") or "error")
        verdict = Verdict.RETRY if code in RETRYABLE_LINE_CODES else Verdict.FAILED
        return OutputLine(
            custom_id=custom_id,
            verdict=verdict,
            status_code=None,
            response_json=None,
            error_code=code,
            error_message=str(error.get("message") or ""),
            usage=None,
        )
    if not isinstance(response, dict):
        return OutputLine(
            custom_id, Verdict.RETRY, None, None, "no_response", "line has no response", None
        )
    status = response.get("status_code")
    status_code = status if isinstance(status, int) else None
    body = response.get("body")
    body_json = orjson.dumps(body).decode() if body is not None else None
    if status_code is not None and 200 <= status_code < 300:
        return OutputLine(
            custom_id, Verdict.SUCCEEDED, status_code, body_json, None, None, usage_of(body)
        )
    code, message = _error_of(body, status_code)
    retry = status_code is None or status_code in RETRYABLE_STATUS or status_code >= 500
    return OutputLine(
        custom_id=custom_id,
        verdict=Verdict.RETRY if retry else Verdict.FAILED,
        status_code=status_code,
        response_json=body_json,
        error_code=code,
        error_message=message,
        usage=usage_of(body),
    )


def _error_of(body: Any, status_code: int | None) -> tuple[str, str]:
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code = error.get("code") or error.get("type") or f"http_{status_code}"
        return str(code), str(error.get("message") or "")
    return f"http_{status_code}", f"the provider answered HTTP {status_code}"
