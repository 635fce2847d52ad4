"""Per-request body validation for the endpoints the sandbox simulates.

Each check raises :class:`ApiError` (status 400, OpenAI's wording and codes where we know them)
for a body the real endpoint would refuse. The same checks serve the synchronous routes and each
batch line, so a line fails in a batch exactly when the synchronous call would.
"""

from __future__ import annotations

from typing import Any

from halfrate.sandbox.common.jsondata import JSON
from halfrate.sandbox.openai.formats import chat_format, responses_format
from halfrate.sandbox.openai.wire import ApiError, invalid_type, missing

CHAT = "/v1/chat/completions"
EMBEDDINGS = "/v1/embeddings"
RESPONSES = "/v1/responses"
SIMULATED = (CHAT, EMBEDDINGS, RESPONSES)

CHAT_ROLES = ("system", "developer", "user", "assistant", "tool", "function")
MAX_EMBEDDING_INPUTS = 2048
MAX_CHOICES = 128
MIN_OUTPUT_TOKENS = 16  # the Responses API refuses smaller max_output_tokens
CACHE_RETENTIONS = ("in_memory", "24h")  # prompt_cache_retention


def native_dimensions(model: str) -> int:
    """Length of the vectors an embedding model returns when ``dimensions`` is not given."""
    return 3072 if model.startswith("text-embedding-3-large") else 1536


def unsupported(url: str) -> ApiError:
    return ApiError(
        400, f"the halfrate sandbox does not simulate {url}", code="unsupported_endpoint"
    )


def _require_model(body: JSON) -> str:
    if "model" not in body or body["model"] is None:
        raise missing("model")
    model = body["model"]
    if not isinstance(model, str):
        raise invalid_type("model", "a string", model)
    if not model:
        raise ApiError(400, "Invalid 'model': empty string.", param="model", code="invalid_value")
    return model


def _optional_int(body: JSON, param: str, minimum: int, maximum: int | None = None) -> int | None:
    value = body.get(param)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid_type(param, "an integer", value)
    if value < minimum:
        raise ApiError(
            400,
            f"Invalid '{param}': integer below minimum value. "
            f"Expected a value >= {minimum}, but got {value} instead.",
            param=param,
            code="integer_below_min_value",
        )
    if maximum is not None and value > maximum:
        raise ApiError(
            400,
            f"Invalid '{param}': integer above maximum value. "
            f"Expected a value <= {maximum}, but got {value} instead.",
            param=param,
            code="integer_above_max_value",
        )
    return value


def _check_messages(messages: Any, param: str) -> list[Any]:
    if not isinstance(messages, list):
        raise invalid_type(param, "an array", messages)
    if not messages:
        raise ApiError(
            400,
            f"Invalid '{param}': empty array. Expected an array with minimum length 1, "
            "but got an empty array instead.",
            param=param,
            code="empty_array",
        )
    for i, message in enumerate(messages):
        where = f"{param}[{i}]"
        if not isinstance(message, dict):
            raise invalid_type(where, "an object", message)
        role = message.get("role")
        if role is None:
            raise missing(f"{where}.role")
        if role not in CHAT_ROLES:
            supported = ", ".join(f"'{r}'" for r in CHAT_ROLES)
            raise ApiError(
                400,
                f"Invalid value: '{role}'. Supported values are: {supported}.",
                param=f"{where}.role",
                code="invalid_value",
            )
        content = message.get("content")
        if content is None:
            if role != "assistant":
                raise missing(f"{where}.content")
        elif not isinstance(content, str | list):
            raise invalid_type(f"{where}.content", "one of a string or array of objects", content)
    return messages


def _check_cache_fields(body: JSON) -> None:
    """``prompt_cache_key`` is a string; ``prompt_cache_retention`` one of OpenAI's two."""
    key = body.get("prompt_cache_key")
    if key is not None and not isinstance(key, str):
        raise invalid_type("prompt_cache_key", "a string", key)
    retention = body.get("prompt_cache_retention")
    if retention is not None and retention not in CACHE_RETENTIONS:
        raise ApiError(
            400,
            f"Invalid value: '{retention}'. Supported values are: 'in_memory' and '24h'.",
            param="prompt_cache_retention",
            code="invalid_value",
        )


def check_chat(body: JSON) -> tuple[str, list[Any], int | None, int, JSON | None]:
    """A valid chat completion body's (model, messages, token cap, n, and the schema of a
    structured answer: see :mod:`halfrate.sandbox.openai.formats`)."""
    model = _require_model(body)
    if "messages" not in body:
        raise missing("messages")
    messages = _check_messages(body["messages"], "messages")
    # max_completion_tokens supersedes the older max_tokens when both are given.
    cap = _optional_int(body, "max_completion_tokens", 1)
    legacy = _optional_int(body, "max_tokens", 1)
    if cap is None:
        cap = legacy
    n = _optional_int(body, "n", 1, MAX_CHOICES) or 1
    _check_cache_fields(body)
    return model, messages, cap, n, chat_format(body, messages)


def check_embeddings(body: JSON) -> tuple[str, list[str | list[int]], int, str]:
    """A valid embeddings body's (model, inputs, dimensions, encoding format)."""
    model = _require_model(body)
    if "input" not in body or body["input"] is None:
        raise missing("input")
    raw = body["input"]
    inputs: list[str | list[int]]
    if isinstance(raw, str):
        inputs = [raw]
    elif isinstance(raw, list) and raw and all(isinstance(x, int) for x in raw):
        inputs = [raw]  # one input given as token ids
    elif isinstance(raw, list):
        inputs = raw
    else:
        raise invalid_type("input", "a string or array", raw)
    if not inputs:
        raise ApiError(400, "'$.input' is invalid: empty array.", param="input", code="empty_array")
    if len(inputs) > MAX_EMBEDDING_INPUTS:
        raise ApiError(
            400,
            f"'$.input' is invalid: at most {MAX_EMBEDDING_INPUTS} inputs per request, "
            f"got {len(inputs)}.",
            param="input",
            code="invalid_value",
        )
    for i, item in enumerate(inputs):
        ok_tokens = isinstance(item, list) and bool(item) and all(isinstance(x, int) for x in item)
        if not ok_tokens and not (isinstance(item, str) and item):
            raise ApiError(
                400,
                f"'$.input[{i}]' is invalid: expected a non-empty string or array of token ids.",
                param="input",
                code="invalid_value",
            )
    native = native_dimensions(model)
    dimensions = _optional_int(body, "dimensions", 1, native) or native
    encoding = body.get("encoding_format") or "float"
    if encoding not in ("float", "base64"):
        raise ApiError(
            400,
            f"Invalid value: '{encoding}'. Supported values are: 'float' and 'base64'.",
            param="encoding_format",
            code="invalid_value",
        )
    return model, inputs, dimensions, encoding


def check_responses(body: JSON) -> tuple[str, list[Any], int | None, JSON | None]:
    """A valid Responses body's (model, input items as messages, max_output_tokens, and the
    schema of a structured answer)."""
    model = _require_model(body)
    if "input" not in body or body["input"] is None:
        raise missing("input")
    raw = body["input"]
    items: list[Any]
    if isinstance(raw, str):
        items = [{"role": "user", "content": raw}]
    elif isinstance(raw, list):
        if not raw:
            raise ApiError(400, "Invalid 'input': empty array.", param="input", code="empty_array")
        for i, item in enumerate(raw):
            if not isinstance(item, dict):
                raise invalid_type(f"input[{i}]", "an object", item)
        items = raw
    else:
        raise invalid_type("input", "a string or array", raw)
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise invalid_type("instructions", "a string", instructions)
    cap = _optional_int(body, "max_output_tokens", MIN_OUTPUT_TOKENS)
    _check_cache_fields(body)
    return model, items, cap, responses_format(body, items)


def check(url: str, body: JSON) -> None:
    """Raise :class:`ApiError` if ``body`` would be refused at ``url``."""
    if url == CHAT:
        check_chat(body)
    elif url == EMBEDDINGS:
        check_embeddings(body)
    elif url == RESPONSES:
        check_responses(body)
    else:
        raise unsupported(url)
