"""Chat completions as server-sent events, the way OpenAI streams them.

The answer is simulated whole first (so a streamed and an unstreamed call agree to the byte on
content and usage), then cut into ``chat.completion.chunk`` events: a role delta, content
deltas word by word, a final delta with ``finish_reason``, an optional usage chunk
(``stream_options.include_usage``), and ``data: [DONE]``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import orjson

from halfrate.sandbox.wire import JSON

_PIECE = re.compile(r"\S+\s*|\s+")


def chunk_events(answer: JSON, include_usage: bool) -> Iterator[bytes]:
    """The SSE byte stream for a simulated ``chat.completion`` body."""
    base = {
        "id": answer["id"],
        "object": "chat.completion.chunk",
        "created": answer["created"],
        "model": answer["model"],
        "system_fingerprint": answer.get("system_fingerprint"),
        "service_tier": answer.get("service_tier"),
    }

    def event(choices: list[JSON], **extra: Any) -> bytes:
        payload = {**base, "choices": choices, **extra}
        return b"data: " + orjson.dumps(payload) + b"\n\n"

    for choice in answer["choices"]:
        index = choice["index"]
        content = choice["message"]["content"] or ""
        yield event([_delta(index, {"role": "assistant", "content": "", "refusal": None})])
        for piece in _PIECE.findall(content):
            yield event([_delta(index, {"content": piece})])
        yield event([_delta(index, {}, choice["finish_reason"])])
    if include_usage:
        yield event([], usage=answer["usage"])
    yield b"data: [DONE]\n\n"


def _delta(index: int, delta: JSON, finish_reason: str | None = None) -> JSON:
    return {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}


def wants_usage(body: JSON) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True
