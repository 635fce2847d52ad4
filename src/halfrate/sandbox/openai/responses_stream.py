"""Responses API answers as server-sent events, the way OpenAI streams them.

The response is simulated whole first, then told as events, each with an ``event:`` line and a
``sequence_number`` counting from 0: ``response.created`` and ``response.in_progress`` (the
response with no output yet), then per output item ``response.output_item.added``, per content
part ``response.content_part.added``, ``response.output_text.delta`` word by word,
``response.output_text.done``, ``response.content_part.done``, then
``response.output_item.done``, and last ``response.completed`` carrying the full response, equal
to the unstreamed answer. A response cut by ``max_output_tokens`` ends with
``response.incomplete`` instead, as OpenAI's does. There is no ``[DONE]`` line on this API.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from halfrate.sandbox.common.jsondata import JSON
from halfrate.sandbox.common.sse import Event, frame, words


def response_events(answer: JSON) -> Iterator[Event]:
    """The SSE events for a simulated ``response`` body."""
    sequence = itertools.count()

    def event(name: str, content: bool = False, **fields: Any) -> Event:
        payload = {"type": name, "sequence_number": next(sequence), **fields}
        return Event(frame(payload, name), content)

    opening = {**answer, "status": "in_progress", "output": [], "usage": None}
    opening["incomplete_details"] = None
    yield event("response.created", response=opening)
    yield event("response.in_progress", response=opening)
    for output_index, item in enumerate(answer["output"]):
        item_id = item["id"]
        yield event(
            "response.output_item.added",
            output_index=output_index,
            item={**item, "status": "in_progress", "content": []},
        )
        for content_index, part in enumerate(item["content"]):
            where = {"item_id": item_id, "output_index": output_index}
            where["content_index"] = content_index
            text = part.get("text", "")
            yield event("response.content_part.added", **where, part={**part, "text": ""})
            for piece in words(text):
                yield event("response.output_text.delta", True, **where, delta=piece, logprobs=[])
            yield event("response.output_text.done", **where, text=text, logprobs=[])
            yield event("response.content_part.done", **where, part=part)
        yield event("response.output_item.done", output_index=output_index, item=item)
    final = "response.completed" if answer["status"] == "completed" else "response.incomplete"
    yield event(final, response=answer)
