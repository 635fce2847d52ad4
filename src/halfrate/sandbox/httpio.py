"""Reading requests and writing responses the way the OpenAI API does, for the route modules."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from halfrate.sandbox.wire import JSON, ApiError

DOWNLOAD_CHUNK = 1 << 20  # file content goes out in 1 MiB chunks, so clients can stream it


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(obj), status_code=status, media_type="application/json", headers=headers
    )


def error_response(exc: ApiError) -> Response:
    return json_response(exc.body(), exc.status, exc.headers)


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


async def json_body(request: Request, *, allow_empty: bool = False) -> JSON:
    """The request's JSON object, or a 400 in OpenAI's words."""
    raw = await request.body()
    if allow_empty and not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ApiError(
            400,
            "We could not parse the JSON body of your request. The OpenAI API expects a JSON "
            "payload, but what was sent was not valid JSON.",
        ) from None
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    return body


def query_int(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(
            400,
            f"Invalid '{name}': expected an integer, got {raw!r}.",
            param=name,
            code="invalid_type",
        ) from None
    if not low <= value <= high:
        raise ApiError(
            400,
            f"Invalid '{name}': {value} is out of range; expected {low} to {high}.",
            param=name,
            code="invalid_value",
        )
    return value


def query_str(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    return value or None
