"""Writing answers: JSON and byte responses for the routes, and a JSON answer for ASGI layers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.responses import Response, StreamingResponse
from starlette.types import Send

from halfrate.sandbox.common.jsondata import dumps

DOWNLOAD_CHUNK = 1 << 20  # file content goes out in 1 MiB chunks, so clients can stream it


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(obj), status_code=status, media_type="application/json", headers=headers
    )


def bytes_response(data: bytes, media_type: str = "application/octet-stream") -> StreamingResponse:
    """Raw file content, sent in chunks with its length known up front."""

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(data), DOWNLOAD_CHUNK):
            yield data[start : start + DOWNLOAD_CHUNK]

    return StreamingResponse(
        chunks(),
        media_type=media_type,
        headers={"content-length": str(len(data))},
    )


async def send_json(
    send: Send, status: int, body: object, extra: dict[str, str] | None = None
) -> None:
    payload = dumps(body)
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(payload))]
    headers += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in (extra or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
