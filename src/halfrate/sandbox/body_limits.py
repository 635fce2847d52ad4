"""How large a request body the sandbox takes, refused up front instead of after reading it.

The providers refuse bodies over their documented sizes with HTTP 413 before reading them
(docs/anthropic-batches.md#limits-and-retention, docs/openai-batch.md). The sandbox does the
same: a declared ``Content-Length`` over the limit is answered at once, and a body sent without
one (chunked) is counted while it streams in, so no handler ever holds more than the limit.

Limits: OpenAI file uploads 512 MB (the per-file limit, plus room for the multipart envelope;
the 200 MB batch limit needs the form's ``purpose`` and is the upload route's check, made
before the spooled file is read); Anthropic batch creates 256 MB; every other JSON body 32 MB,
Anthropic's Messages size (OpenAI documents none for one JSON request; the sandbox applies the
same so a runaway body is refused before it is read).
"""

from __future__ import annotations

from starlette.types import Message, Receive, Scope

MB = 1024 * 1024
UPLOAD_BYTES = 512 * MB + MB  # the file plus its multipart envelope
BATCH_CREATE_BYTES = 256 * MB
JSON_BODY_BYTES = 32 * MB


class BodyTooLarge(Exception):
    """A request body over its path's limit; ``limit`` in bytes."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"body over {limit:,} bytes")
        self.limit = limit


def body_limit(method: str, path: str) -> int:
    """The largest body the sandbox reads for a request to ``path``."""
    if method == "POST" and path.rstrip("/") == "/v1/files":
        return UPLOAD_BYTES
    if method == "POST" and path.rstrip("/") == "/v1/messages/batches":
        return BATCH_CREATE_BYTES
    return JSON_BODY_BYTES


def declared_length(scope: Scope) -> int | None:
    for key, value in scope["headers"]:
        if key.lower() == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


def too_large_message(limit: int) -> str:
    return f"Request body is too large: the limit for this endpoint is {limit:,} bytes."


def counting_receive(receive: Receive, limit: int) -> Receive:
    """``receive``, raising :class:`BodyTooLarge` as soon as the body passes ``limit``."""
    seen = 0

    async def limited() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge(limit)
        return message

    return limited
