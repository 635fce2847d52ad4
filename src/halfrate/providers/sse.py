"""Server-sent events, read off a streamed HTTP response that the SDK's client made.

halfrate reads the event stream itself, to the very end of the body, for two reasons: the SDKs'
own stream readers stop at ``[DONE]`` and close the response with bytes unread, which throws
the connection away (a new TCP connection for every call); and they build typed objects per
event, which halfrate does not need (it keeps the provider's JSON as it came).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from halfrate.providers.streams import JSON, StreamFailed


def sse_messages(chunks: Iterable[bytes]) -> Iterator[tuple[str | None, bytes]]:
    """(event name, data) of each message in a byte stream: ``data:`` lines joined, comments
    skipped. Works on raw bytes: a message is only decoded once, by the JSON parser."""
    pending = b""
    for chunk in chunks:
        pending = (pending + chunk).replace(b"\r\n", b"\n")
        *blocks, pending = pending.split(b"\n\n")
        for block in blocks:
            message = _message(block)
            if message is not None:
                yield message
    if pending.strip():
        message = _message(pending)
        if message is not None:
            yield message


def _message(block: bytes) -> tuple[str | None, bytes] | None:
    event: str | None = None
    data: list[bytes] = []
    for line in block.split(b"\n"):
        if not line or line.startswith(b":"):
            continue
        name, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if name == b"data":
            data.append(value)
        elif name == b"event":
            event = value.decode("utf-8", "replace")
    return (event, b"\n".join(data)) if data else None


def json_events(chunks: Iterable[bytes]) -> Iterator[JSON]:
    """Each message's JSON; ``[DONE]`` is skipped (reading goes on to the end of the body).

    An error message in the stream raises :class:`StreamFailed` with the provider's words.
    """
    for event, data in sse_messages(chunks):
        if data == b"[DONE]":
            continue
        try:
            payload: Any = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise StreamFailed("stream_error", f"unreadable event: {data[:200]!r}") from None
        if not isinstance(payload, dict):
            continue
        if event == "error" or (event is None and isinstance(payload.get("error"), dict)):
            inner = payload.get("error")
            error = inner if isinstance(inner, dict) else payload
            code = error.get("code") or error.get("type") or "stream_error"
            raise StreamFailed(str(code), str(error.get("message") or "an error in the stream"))
        yield payload
