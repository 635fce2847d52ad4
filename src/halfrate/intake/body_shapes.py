"""The shape of a request body, checked before anything is stored: a request the provider would
refuse for its shape (``"messages": "notalist"``, ``"max_tokens": "ten"``) is refused at submit,
naming the field, instead of failing line by line at the provider a day later.

Only what the providers document as required, and the types of well-known fields when they are
present, are checked (docs/openai-batch.md, docs/anthropic-batches.md): a field halfrate does not
know passes through untouched, so a new provider feature is never refused here, and limits that
depend on the model (its largest answer, its embedding size) are left to the provider.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from halfrate.errors import InputError

OPENAI_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
ANTHROPIC_ROLES = frozenset({"user", "assistant"})


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float):
        return f"the number {value}"
    return "a list" if isinstance(value, list) else "an object"


def _whole(field: str, value: Any, least: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise InputError(f"'{field}' must be a whole number ≥ {least}, got {_kind(value)}")


def _number(field: str, value: Any, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise InputError(f"'{field}' must be a number from {low:g} to {high:g}, got {_kind(value)}")


def _text_or_parts(field: str, value: Any, *, empty_ok: bool = False) -> None:
    if isinstance(value, str):
        return
    parts = isinstance(value, list) and all(isinstance(part, dict) for part in value)
    if parts and (value or empty_ok):
        return
    raise InputError(f"'{field}' must be text or a list of content parts, got {_kind(value)}")


def _messages(field: str, value: Any, roles: frozenset[str], *, openai: bool) -> None:
    if not isinstance(value, list) or not value:
        raise InputError(f"'{field}' must be a non-empty list of messages, got {_kind(value)}")
    for i, message in enumerate(value):
        where = f"{field}[{i}]"
        if not isinstance(message, dict):
            raise InputError(f"'{where}' must be a message object, got {_kind(message)}")
        role = message.get("role")
        if role not in roles:
            allowed = ", ".join(sorted(roles))
            shown = repr(role) if isinstance(role, str) else _kind(role)
            raise InputError(f"'{where}.role' must be one of {allowed}, got {shown}")
        content = message.get("content")
        # An assistant turn that only calls tools has no content (OpenAI).
        if content is None and openai and role == "assistant":
            continue
        _text_or_parts(f"{where}.content", content)


def _optional(
    body: Mapping[str, Any], field: str, prefix: str, check: Callable[[str, Any], None]
) -> None:
    if field in body and body[field] is not None:
        check(f"{prefix}.{field}", body[field])


def check_openai_body(endpoint: str, body: Mapping[str, Any], prefix: str = "body") -> None:
    """The body's shape for ``endpoint``; raises InputError naming the field."""
    _optional(body, "temperature", prefix, lambda f, v: _number(f, v, 0, 2))
    _optional(body, "top_p", prefix, lambda f, v: _number(f, v, 0, 1))
    for field in ("max_tokens", "max_completion_tokens", "max_output_tokens", "n"):
        _optional(body, field, prefix, _whole)
    if endpoint == "/v1/chat/completions":
        _messages(f"{prefix}.messages", body.get("messages"), OPENAI_ROLES, openai=True)
    elif endpoint == "/v1/responses":
        if "input" not in body:
            raise InputError(f"'{prefix}.input' is missing; /v1/responses needs it")
        _text_or_parts(f"{prefix}.input", body["input"])
    elif endpoint == "/v1/embeddings":
        given = body.get("input")
        if not (isinstance(given, str | list) and given):
            raise InputError(
                f"'{prefix}.input' must be text or a non-empty list of texts or tokens, "
                f"got {_kind(given)}"
            )
    elif endpoint == "/v1/completions":
        given = body.get("prompt")
        if not isinstance(given, str | list):
            raise InputError(f"'{prefix}.prompt' must be text or a list, got {_kind(given)}")


def check_anthropic_params(params: Mapping[str, Any], prefix: str = "params") -> None:
    """Messages parameters' shape beyond the model and max_tokens (checked by the caller);
    raises InputError naming the field."""
    _messages(f"{prefix}.messages", params.get("messages"), ANTHROPIC_ROLES, openai=False)
    _optional(params, "system", prefix, lambda f, v: _text_or_parts(f, v, empty_ok=True))
    _optional(params, "temperature", prefix, lambda f, v: _number(f, v, 0, 1))
    _optional(params, "top_p", prefix, lambda f, v: _number(f, v, 0, 1))
    _optional(params, "top_k", prefix, _whole)
