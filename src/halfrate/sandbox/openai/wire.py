"""Wire details of OpenAI's API: its error shape, ids, batch endpoints and usage shape.

Everything here is pure and cheap; the per-line batch generator calls some of it 50,000 times.
"""

from __future__ import annotations

import secrets
from typing import Any

from halfrate.errors import HalfrateError
from halfrate.sandbox.common.jsondata import JSON

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

# The endpoints a batch may target (docs/openai-batch.md#allowed-endpoints).
BATCH_ENDPOINTS: tuple[str, ...] = (
    "/v1/responses",
    "/v1/chat/completions",
    "/v1/embeddings",
    "/v1/completions",
    "/v1/moderations",
    "/v1/images/generations",
    "/v1/images/edits",
    "/v1/videos",
)


class ApiError(HalfrateError):
    """An HTTP error the sandbox answers in OpenAI's error shape.

    See docs/openai-batch.md#base-url-auth-and-errors.

    Routes raise it; the app turns it into the response. It never escapes to library callers.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        kind: str = "invalid_request_error",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.kind = kind
        self.headers = headers

    def body(self) -> JSON:
        return error_body(self.message, param=self.param, code=self.code, kind=self.kind)


def error_body(
    message: str,
    *,
    param: str | None = None,
    code: str | None = None,
    kind: str = "invalid_request_error",
) -> JSON:
    """``{"error": {message, type, param, code}}``: the body of every OpenAI HTTP error."""
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def missing(param: str) -> ApiError:
    return ApiError(
        400,
        f"Missing required parameter: '{param}'.",
        param=param,
        code="missing_required_parameter",
    )


def invalid_type(param: str, expected: str, value: Any) -> ApiError:
    return ApiError(
        400,
        f"Invalid type for '{param}': expected {expected}, but got {type_name(value)} instead.",
        param=param,
        code="invalid_type",
    )


def new_id(prefix: str, length: int = 24) -> str:
    """A random, unguessable id such as ``file-3Yk…`` (ids of stored objects need not repeat)."""
    return prefix + "".join(secrets.choice(_BASE62) for _ in range(length))


def type_name(value: Any) -> str:
    """The JSON type name OpenAI uses in "expected X, but got Y" messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def responses_usage(
    input_tokens: int, output_tokens: int, cached_tokens: int = 0, cache_write_tokens: int = 0
) -> dict[str, Any]:
    """Usage in the Responses API's shape, also used by the batch object's aggregate;
    ``cached_tokens`` (and ``cache_write_tokens``, shown only when there are some: the models
    that bill writes) are part of ``input_tokens``.

    See docs/openai-batch.md#batch-endpoints.
    """
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": (
            {"cached_tokens": cached_tokens, "cache_write_tokens": cache_write_tokens}
            if cache_write_tokens
            else {"cached_tokens": cached_tokens}
        ),
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input_tokens + output_tokens,
    }
