"""Claude messages as server-sent events, the way Anthropic streams them.

The message is simulated whole first, then told as events with ``event:`` lines:
``message_start`` (the message with empty content; usage with the input and cache tokens and
``output_tokens: 1``), then per content block ``content_block_start``, a ``ping`` after the
first, ``content_block_delta`` (``text_delta``) word by word and ``content_block_stop``, then
``message_delta`` (``stop_reason``, ``stop_sequence`` and the cumulative usage) and
``message_stop``. The SDK's accumulated message equals the unstreamed one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from halfrate.sandbox.common.jsondata import JSON
from halfrate.sandbox.common.sse import Event, frame, words


def message_events(message: JSON) -> Iterator[Event]:
    """The SSE events for a simulated ``Message``."""

    def event(name: str, content: bool = False, **fields: Any) -> Event:
        return Event(frame({"type": name, **fields}, name), content)

    usage = message["usage"]
    opening = {**message, "content": [], "stop_reason": None, "stop_sequence": None}
    opening["stop_details"] = None
    opening["usage"] = {**usage, "output_tokens": 1}
    yield event("message_start", message=opening)
    for index, block in enumerate(message["content"]):
        yield event("content_block_start", index=index, content_block={**block, "text": ""})
        if index == 0:
            yield event("ping")
        for piece in words(block.get("text", "")):
            delta = {"type": "text_delta", "text": piece}
            yield event("content_block_delta", True, index=index, delta=delta)
        yield event("content_block_stop", index=index)
    yield event(
        "message_delta",
        delta={
            "stop_reason": message["stop_reason"],
            "stop_sequence": message["stop_sequence"],
            "stop_details": message["stop_details"],
        },
        usage={
            "input_tokens": usage["input_tokens"],
            "cache_creation_input_tokens": usage["cache_creation_input_tokens"],
            "cache_read_input_tokens": usage["cache_read_input_tokens"],
            "output_tokens": usage["output_tokens"],
        },
    )
    yield event("message_stop")
