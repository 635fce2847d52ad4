"""Validation of Messages API bodies, synchronous and inside a Message Batch.

See docs/anthropic-batches.md#base-url-and-headers and #the-create-body.

Each check raises :class:`AnthropicError` for a body the real API would refuse: 400
``invalid_request_error`` with a message of the form ``<field path>: <reason>``, or 404
``not_found_error`` for a model that is not a Claude model. The same function serves
``POST /v1/messages`` and each batch request, so a request fails in a batch exactly when the
synchronous call would, plus what only a batch refuses (``stream: true``, ``speed``).

Structured outputs (``output_config.format``, docs/anthropic-batches.md#structured-outputs):
the format's ``type`` must be ``json_schema`` and its ``schema`` an object; the schema is handed
on in :attr:`Checked.schema` for the answer to fit.

Unknown top-level keys are ignored, as the sandbox cannot know every newer parameter.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from halfrate.sandbox.anthropic.wire import VERSION_2026, VERSIONS, invalid, not_found
from halfrate.sandbox.common.jsondata import JSON

ROLES = ("user", "assistant")
TTLS = ("5m", "1h")
MAX_BREAKPOINTS = 4
REMOVED_IN_2026 = ("temperature", "top_p", "top_k")


class Checked(NamedTuple):
    model: str
    max_tokens: int
    messages: list[JSON]
    schema: JSON | None = None  # the JSON Schema of a structured answer; None: plain text


def _required(params: JSON, name: str) -> Any:
    if name not in params or params[name] is None:
        raise invalid(f"{name}: Field required")
    return params[name]


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class _Breakpoints:
    """Counts ``cache_control`` markers and checks each one."""

    def __init__(self) -> None:
        self.count = 0

    def check(self, block: JSON, where: str) -> None:
        control = block.get("cache_control")
        if control is None:
            return
        if not isinstance(control, dict):
            raise invalid(f"{where}.cache_control: Input should be a valid dictionary")
        if control.get("type") != "ephemeral":
            raise invalid(f"{where}.cache_control.type: Input should be 'ephemeral'")
        if "ttl" in control and control["ttl"] not in TTLS:
            raise invalid(f"{where}.cache_control.ttl: Input should be '5m' or '1h'")
        self.count += 1


def _check_block(block: Any, where: str, role: str, version: str, marks: _Breakpoints) -> None:
    if not isinstance(block, dict):
        raise invalid(f"{where}: Input should be a valid dictionary")
    kind = block.get("type")
    if not isinstance(kind, str):
        raise invalid(f"{where}.type: Field required")
    if kind == "text":
        text = block.get("text")
        if not isinstance(text, str):
            raise invalid(f"{where}.text: Input should be a valid string")
        if not text:
            raise invalid("messages: text content blocks must be non-empty")
        if version == VERSION_2026 and role == "user" and block.get("citations"):
            raise invalid(
                f"{where}.citations: citations on user text blocks are not supported in "
                f"anthropic-version {VERSION_2026}"
            )
    elif kind == "tool_use" and not isinstance(block.get("name"), str):
        raise invalid(f"{where}.name: Field required")
    elif kind == "tool_result" and not isinstance(block.get("tool_use_id"), str):
        raise invalid(f"{where}.tool_use_id: Field required")
    elif kind == "document" and role == "assistant" and version == VERSION_2026:
        raise invalid(
            f"{where}: document blocks in assistant messages are not supported in "
            f"anthropic-version {VERSION_2026}"
        )
    marks.check(block, where)


def _check_messages(raw: Any, version: str, marks: _Breakpoints) -> list[JSON]:
    if not isinstance(raw, list):
        raise invalid("messages: Input should be a valid list")
    if not raw:
        raise invalid("messages: at least one message is required")
    for i, message in enumerate(raw):
        where = f"messages.{i}"
        if not isinstance(message, dict):
            raise invalid(f"{where}: Input should be a valid dictionary")
        role = message.get("role")
        if role is None:
            raise invalid(f"{where}.role: Field required")
        if role not in ROLES:
            raise invalid(f"{where}.role: Input should be 'user' or 'assistant'")
        if "content" not in message:
            raise invalid(f"{where}.content: Field required")
        content = message["content"]
        last_assistant = i == len(raw) - 1 and role == "assistant"
        if isinstance(content, str):
            if not content and not last_assistant:
                raise invalid(
                    f"{where}: all messages must have non-empty content except for the optional "
                    "final assistant message"
                )
        elif isinstance(content, list):
            if not content and not last_assistant:
                raise invalid(
                    f"{where}: all messages must have non-empty content except for the optional "
                    "final assistant message"
                )
            for j, block in enumerate(content):
                _check_block(block, f"{where}.content.{j}", role, version, marks)
        else:
            raise invalid(f"{where}.content: Input should be a valid string or list")
    return raw


def _check_system(system: Any, marks: _Breakpoints) -> None:
    if system is None or isinstance(system, str):
        return
    if not isinstance(system, list):
        raise invalid("system: Input should be a valid string or list")
    for j, block in enumerate(system):
        where = f"system.{j}"
        if not isinstance(block, dict):
            raise invalid(f"{where}: Input should be a valid dictionary")
        if block.get("type") != "text":
            raise invalid(f"{where}.type: Input should be 'text'")
        if not isinstance(block.get("text"), str):
            raise invalid(f"{where}.text: Input should be a valid string")
        marks.check(block, where)


def _check_tools(tools: Any, marks: _Breakpoints) -> None:
    if tools is None:
        return
    if not isinstance(tools, list):
        raise invalid("tools: Input should be a valid list")
    for k, tool in enumerate(tools):
        where = f"tools.{k}"
        if not isinstance(tool, dict):
            raise invalid(f"{where}: Input should be a valid dictionary")
        if not isinstance(tool.get("name"), str):
            raise invalid(f"{where}.name: Field required")
        marks.check(tool, where)


def _check_sampling(params: JSON, version: str) -> None:
    if version == VERSION_2026:
        for name in REMOVED_IN_2026:
            # Refused even at its default value (docs/anthropic-batches.md#base-url-and-headers).
            if name in params:
                raise invalid(
                    f"{name}: this parameter is not supported in anthropic-version "
                    f"{VERSION_2026}; remove it from the request"
                )
        return
    for name in ("temperature", "top_p"):
        value = params.get(name)
        if value is not None and (not _number(value) or not 0 <= value <= 1):
            raise invalid(f"{name}: Input should be a number between 0 and 1")
    top_k = params.get("top_k")
    if top_k is not None and (not _integer(top_k) or top_k < 0):
        raise invalid("top_k: Input should be an integer greater than or equal to 0")


def _check_output_config(config: Any) -> JSON | None:
    """The schema ``output_config.format`` asks the answer to fit, if it asks for one."""
    if config is None:
        return None
    if not isinstance(config, dict):
        raise invalid("output_config: Input should be a valid dictionary")
    fmt = config.get("format")
    if fmt is None:
        return None
    if not isinstance(fmt, dict):
        raise invalid("output_config.format: Input should be a valid dictionary")
    if fmt.get("type") is None:
        raise invalid("output_config.format.type: Field required")
    if fmt["type"] != "json_schema":
        raise invalid("output_config.format.type: Input should be 'json_schema'")
    schema = fmt.get("schema")
    if schema is None:
        raise invalid("output_config.format.schema: Field required")
    if not isinstance(schema, dict):
        raise invalid("output_config.format.schema: Input should be a valid dictionary")
    return schema


def check_params(
    params: JSON, version: str, *, in_batch: bool = False, counting: bool = False
) -> Checked:
    """Check a Messages body under ``anthropic-version`` ``version``; batches refuse more, and
    a token count (``counting``) needs no ``max_tokens``."""
    model = _required(params, "model")
    if not isinstance(model, str):
        raise invalid("model: Input should be a valid string")
    max_tokens = 0 if counting and "max_tokens" not in params else _required(params, "max_tokens")
    if not _integer(max_tokens):
        raise invalid("max_tokens: Input should be a valid integer")
    if max_tokens < 1 and not counting:
        raise invalid("max_tokens: Input should be greater than or equal to 1")
    marks = _Breakpoints()
    _check_tools(params.get("tools"), marks)
    _check_system(params.get("system"), marks)
    messages = _check_messages(_required(params, "messages"), version, marks)
    if marks.count > MAX_BREAKPOINTS:
        raise invalid(
            f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. "
            f"Found {marks.count}."
        )
    stream = params.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise invalid("stream: Input should be a valid boolean")
    stops = params.get("stop_sequences")
    if stops is not None and not (
        isinstance(stops, list) and all(isinstance(s, str) for s in stops)
    ):
        raise invalid("stop_sequences: Input should be a valid list of strings")
    _check_sampling(params, version)
    schema = _check_output_config(params.get("output_config"))
    if in_batch:
        if stream is True:
            raise invalid("stream: streaming is not supported for requests in a Message Batch")
        if "speed" in params:
            raise invalid("speed: fast mode is not supported for requests in a Message Batch")
    # Checked last, as the API resolves the model after the body is valid.
    if not model.startswith("claude-"):
        raise not_found(f"model: {model}")
    return Checked(model, max_tokens, messages, schema)


def check_version(value: str | None) -> str:
    """The ``anthropic-version`` header, which every request must carry."""
    if value is None:
        raise invalid("anthropic-version: header is required")
    if value not in VERSIONS:
        raise invalid(
            f"anthropic-version: {value!r} is not a valid version; use one of "
            + ", ".join(VERSIONS)
        )
    return value
