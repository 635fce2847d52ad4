"""Server-sent events: the frame format, and pacing them on the event loop.

The stream builders (``openai.chat_stream``, ``openai.responses_stream``, ``anthropic.stream``)
are pure generators of :class:`Event`, cutting the text with :func:`words`; :func:`paced` turns
them into the response body, waiting ``first_delay`` before the first event and ``interval``
between content events with ``anyio.sleep``, so many slow streams overlap instead of holding
threads. With no interval there is no time between events to observe, so they go out in one
write: a dozen socket writes per stream cost the server (and the client reading them) far more
than the simulation itself.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable
from typing import Any, NamedTuple

import anyio
import orjson

_PIECE = re.compile(r"\S+\s*|\s+")


class Event(NamedTuple):
    frame: bytes
    content: bool = False  # a piece of generated text: paced by the token interval


def frame(payload: Any, name: str | None = None) -> bytes:
    """One SSE frame: an optional ``event:`` line and a ``data:`` line of JSON."""
    data = b"data: " + orjson.dumps(payload) + b"\n\n"
    if name is None:
        return data
    return b"event: " + name.encode() + b"\n" + data


def words(text: str) -> list[str]:
    """``text`` cut word by word (each piece keeps its trailing space); they join back to it."""
    return _PIECE.findall(text)


async def paced(
    events: Iterable[Event], first_delay: float = 0.0, interval: float = 0.0
) -> AsyncIterator[bytes]:
    """The frames of ``events``, timed: ``first_delay`` before the first, ``interval`` between
    one content event and the next."""
    if first_delay > 0:
        await anyio.sleep(first_delay)
    if interval <= 0:
        yield b"".join(event.frame for event in events)
        return
    seen_content = False
    for event in events:
        if event.content:
            if seen_content:
                await anyio.sleep(interval)
            seen_content = True
        yield event.frame
