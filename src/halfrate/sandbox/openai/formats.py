"""Structured outputs on OpenAI: ``response_format`` (chat) and ``text.format`` (Responses).

See docs/openai-batch.md#structured-outputs.

A format is checked the way the real API refuses one: 400 ``invalid_request_error`` with
``param`` naming the field. The check gives the schema the answer must fit: the ``json_schema``
one, or :data:`FREE_OBJECT` for ``json_object``. A chat ``json_schema`` without a ``schema`` also
gets :data:`FREE_OBJECT`, since the API documents that field as optional there. ``text`` (or no
format) gives None, a plain answer.

Strict mode (``strict: true``) refuses the schemas OpenAI's strict mode refuses, in its words: a
root that is not an object, an object without ``additionalProperties: false``, and an object
whose ``required`` does not list every one of its properties. JSON mode (``json_object``) needs
the word "json" somewhere in the messages, as the real API does.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any

import orjson

from halfrate.sandbox.common.compose import text_of
from halfrate.sandbox.common.jsondata import JSON
from halfrate.sandbox.common.schema_answer import FREE_OBJECT
from halfrate.sandbox.openai.wire import ApiError, invalid_type, missing

FORMAT_TYPES = ("text", "json_object", "json_schema")
STRUCTURED = frozenset(("json_object", "json_schema"))
MAX_NAME_CHARS = 64
NAME_PATTERN = "^[a-zA-Z0-9_-]+$"
_NAME = re.compile(NAME_PATTERN)
# Where a strict schema nests other schemas: by name, or as a list of them.
_NESTED_BY_NAME = ("properties", "$defs", "definitions")
_NESTED_LISTS = ("anyOf", "allOf", "oneOf", "prefixItems")
MAX_PATH = 300


def is_structured(url: str, body: JSON) -> bool:
    """Whether ``body`` (already valid) asks for a JSON answer. Cheap: the line fault asks it."""
    if url == "/v1/chat/completions":
        fmt = body.get("response_format")
    else:
        text = body.get("text")
        fmt = text.get("format") if isinstance(text, dict) else None
    return isinstance(fmt, dict) and fmt.get("type") in STRUCTURED


def chat_format(body: JSON, messages: list[Any]) -> JSON | None:
    """The schema a chat completion must answer in, or None for plain text."""
    fmt = body.get("response_format")
    if fmt is None:
        return None
    kind = _kind(fmt, "response_format")
    if kind == "json_object":
        _need_json_word(
            (text_of(m.get("content")) for m in messages if isinstance(m, dict)),
            "'messages' must contain the word 'json' in some form, to use 'response_format' of "
            "type 'json_object'.",
            "messages",
        )
        return FREE_OBJECT
    if kind == "text":
        return None
    if "json_schema" not in fmt or fmt["json_schema"] is None:
        raise missing("response_format.json_schema")
    spec = fmt["json_schema"]
    if not isinstance(spec, dict):
        raise invalid_type("response_format.json_schema", "an object", spec)
    return _schema(spec, "response_format.json_schema", "response_format", required=False)


def responses_format(body: JSON, items: list[Any]) -> JSON | None:
    """The schema a Responses answer must be in, or None for plain text."""
    text = body.get("text")
    if text is None:
        return None
    if not isinstance(text, dict):
        raise invalid_type("text", "an object", text)
    fmt = text.get("format")
    if fmt is None:
        return None
    kind = _kind(fmt, "text.format")
    if kind == "json_object":
        texts = (text_of(m.get("content")) for m in items if isinstance(m, dict))
        instructions = body.get("instructions")
        _need_json_word(
            [*texts, instructions if isinstance(instructions, str) else ""],
            "Response input messages must contain the word 'json' in some form to use "
            "'text.format' of type 'json_object'.",
            "input",
        )
        return FREE_OBJECT
    if kind == "text":
        return None
    return _schema(fmt, "text.format", "text.format.schema", required=True)


def echo(body: JSON) -> JSON:
    """The ``text`` a Response reports: the request's, with its format (``text`` by default)."""
    text = body.get("text")
    given = text if isinstance(text, dict) else {}
    fmt = given.get("format")
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
        return {**given, "format": fmt if isinstance(fmt, dict) else {"type": "text"}}
    shown = {
        "type": "json_schema",
        "description": fmt.get("description"),
        "name": fmt.get("name"),
        "schema": fmt.get("schema"),
        "strict": fmt.get("strict") is True,
    }
    return {**given, "format": shown}


def _kind(fmt: Any, param: str) -> str:
    if not isinstance(fmt, dict):
        raise invalid_type(param, "an object", fmt)
    if "type" not in fmt or fmt["type"] is None:
        raise missing(f"{param}.type")
    kind = fmt["type"]
    if kind not in FORMAT_TYPES:
        raise ApiError(
            400,
            f"Invalid value: '{kind}'. Supported values are: 'text', 'json_object', and "
            "'json_schema'.",
            param=f"{param}.type",
            code="invalid_value",
        )
    return str(kind)


def _need_json_word(texts: Any, message: str, param: str) -> None:
    if not any("json" in text.lower() for text in texts):
        raise ApiError(400, message, param=param)


def _schema(spec: JSON, where: str, schema_param: str, *, required: bool) -> JSON:
    """Check a ``json_schema`` format's name, schema and strict flag; return the schema."""
    name = spec.get("name")
    if name is None:
        raise missing(f"{where}.name")
    if not isinstance(name, str):
        raise invalid_type(f"{where}.name", "a string", name)
    if len(name) > MAX_NAME_CHARS:
        raise ApiError(
            400,
            f"Invalid '{where}.name': string too long. Expected a string with maximum length "
            f"{MAX_NAME_CHARS}, but got a string with length {len(name)} instead.",
            param=f"{where}.name",
            code="string_above_max_length",
        )
    if not _NAME.match(name):
        raise ApiError(
            400,
            f"Invalid '{where}.name': string does not match pattern. Expected a string that "
            f"matches the pattern '{NAME_PATTERN}'.",
            param=f"{where}.name",
            code="invalid_value",
        )
    strict = spec.get("strict")
    if strict is not None and not isinstance(strict, bool):
        raise invalid_type(f"{where}.strict", "a boolean", strict)
    if spec.get("schema") is None:
        if required:
            raise missing(f"{where}.schema")
        return FREE_OBJECT
    schema = spec["schema"]
    if not isinstance(schema, dict):
        raise invalid_type(f"{where}.schema", "an object", schema)
    if strict:
        try:
            problem = _strict_problem_of(orjson.dumps(schema))
        except TypeError:  # a number orjson cannot write (beyond 64 bits): check it uncached
            problem = _strict_problem(schema)
        if problem is not None:
            raise ApiError(
                400,
                f"Invalid schema for response_format '{name}': {problem}",
                param=schema_param,
                code="invalid_json_schema",
            )
    return schema


@functools.lru_cache(maxsize=256)
def _strict_problem_of(text: bytes) -> str | None:
    """:func:`_strict_problem` by the schema's JSON text: every line of a batch usually sends the
    same schema, and walking it again for each of 50,000 lines would cost more than the answer."""
    return _strict_problem(orjson.loads(text))


def _strict_problem(root: JSON) -> str | None:
    """What strict mode refuses in ``root`` (the first problem found), or None."""
    kind = root.get("type")
    if kind != "object":
        return f"schema must be a JSON Schema of 'type: \"object\"', got 'type: \"{kind}\"'."
    for path, node in _subschemas(root, ()):
        if not _is_object(node):
            continue
        context = f"In context={path!r}, "
        if node.get("additionalProperties") is not False:
            return context + "'additionalProperties' is required to be supplied and to be false."
        properties = node.get("properties")
        keys = list(properties) if isinstance(properties, dict) else []
        required = node.get("required")
        listed = required if isinstance(required, list) else []
        absent = [key for key in keys if key not in listed]
        if absent or not isinstance(required, list):
            named = f" Missing '{absent[0]}'." if absent else ""
            return (
                context + "'required' is required to be supplied and to be an array including "
                "every key in properties." + named
            )
    return None


def _is_object(node: JSON) -> bool:
    kind = node.get("type")
    return kind == "object" or (isinstance(kind, list) and "object" in kind)


def _subschemas(node: JSON, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], JSON]]:
    """``node`` and every schema nested in it, each with its path from the root."""
    yield path, node
    if len(path) > MAX_PATH:
        return  # deeper than any schema the API takes; stop before Python's recursion limit
    for key in _NESTED_BY_NAME:
        children = node.get(key)
        if isinstance(children, dict):
            for name, child in children.items():
                if isinstance(child, dict):
                    yield from _subschemas(child, (*path, key, str(name)))
    for key in _NESTED_LISTS:
        children = node.get(key)
        if isinstance(children, list):
            for index, child in enumerate(children):
                if isinstance(child, dict):
                    yield from _subschemas(child, (*path, key, str(index)))
    for key in ("items", "additionalProperties"):
        child = node.get(key)
        if isinstance(child, dict):
            yield from _subschemas(child, (*path, key))
