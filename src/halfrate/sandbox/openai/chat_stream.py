"""Chat completions as server-sent events, the way OpenAI streams them.

The answer is simulated whole first (so a streamed and an unstreamed call agree to the byte on
content and usage), then cut into ``chat.completion.chunk`` events: a role delta, content
deltas word by word, a final delta with ``finish_reason``, an optional usage chunk
(``stream_options.include_usage``), and ``data: [DONE]``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from halfrate.sandbox.common.jsondata import JSON
from halfrate.sandbox.common.sse import Event, frame, words


def chunk_events(answer: JSON, include_usage: bool) -> Iterator[Event]:
    """The SSE events for a simulated ``chat.completion`` body."""
    base = {
        "id": answer["id"],
        "object": "chat.completion.chunk",
        "created": answer["created"],
        "model": answer["model"],
        "system_fingerprint": answer.get("system_fingerprint"),
        "service_tier": answer.get("service_tier"),
    }

    def event(choices: list[JSON], content: bool = False, **extra: Any) -> Event:
        return Event(frame({**base, "choices": choices, **extra}), content)

    for choice in answer["choices"]:
        index = choice["index"]
        content = choice["message"]["content"] or ""
        yield event([_delta(index, {"role": "assistant", "content": "", "refusal": None})])
        for piece in words(content):
            yield event([_delta(index, {"content": piece})], content=True)
        yield event([_delta(index, {}, choice["finish_reason"])])
    if include_usage:
        yield event([], usage=answer["usage"])
    yield Event(b"data: [DONE]\n\n")


def _delta(index: int, delta: JSON, finish_reason: str | None = None) -> JSON:
    return {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}


def wants_usage(body: JSON) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True
