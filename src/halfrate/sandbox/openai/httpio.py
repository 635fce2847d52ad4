"""Reading requests and writing errors the way the OpenAI API does, for the route modules."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response

from halfrate.sandbox.common.jsondata import JSON
from halfrate.sandbox.common.responses import json_response
from halfrate.sandbox.openai.wire import ApiError


def error_response(exc: ApiError) -> Response:
    return json_response(exc.body(), exc.status, exc.headers)


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
