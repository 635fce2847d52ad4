"""Structured answers: the columns a table's answers are asked in, and each answer read back.

A user names the columns in a short spec (``--columns "sentiment: positive|neutral|negative,
product, score: number"``) or gives a JSON Schema object (``--schema FILE.json``). Either way the
model is asked for one JSON object through the provider's structured-output feature
(docs/openai-batch.md#structured-outputs, docs/anthropic-batches.md#structured-outputs), and
each top-level field of the object becomes its own output column.

A model's answer is never trusted to fit: :meth:`AnswerShape.read` parses it and checks every
field against the schema (presence, type, allowed values, bounds), and an answer that does not
fit comes back as an error naming the field, with what the model wrote, never as a silently
empty cell.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import orjson

from halfrate.errors import InputError

MAX_FIELDS = 100
MAX_CHOICES = 500
MAX_NAME_CHARS = 64
MAX_SCHEMA_BYTES = 256 * 1024
QUOTED_ANSWER_CHARS = 300  # of a misfit answer, quoted in the error cell
# Field names the providers accept as object keys and a spreadsheet shows as a header.
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_ .\-]*")
# The spec's type words, and the JSON Schema each stands for.
_TYPES: dict[str, dict[str, Any]] = {
    "text": {"type": "string"},
    "string": {"type": "string"},
    "number": {"type": "number"},
    "integer": {"type": "integer"},
    "whole number": {"type": "integer"},
    "boolean": {"type": "boolean"},
    "yes/no": {"type": "boolean"},
}
_JSON_TYPES = ("string", "number", "integer", "boolean", "array", "object", "null")


@dataclass(frozen=True)
class AnswerShape:
    """The JSON object every answer must be: its schema, and its fields in column order."""

    schema: dict[str, Any]
    fields: tuple[str, ...]

    @classmethod
    def from_spec(cls, spec: str) -> AnswerShape:
        """``name``, ``name: number|integer|boolean|text`` or ``name: a|b|c`` (one of those
        values), separated by commas; every field is required."""
        if not spec.strip():
            raise InputError("--columns is empty: name at least one column, e.g. 'sentiment'")
        properties: dict[str, Any] = {}
        for position, item in enumerate(spec.split(","), start=1):
            name, _, kind = item.partition(":")
            name = _checked_name(name.strip(), f"--columns item {position}")
            if name in properties:
                raise InputError(f"--columns: {name!r} is named twice")
            properties[name] = _spec_type(kind.strip(), name) if kind.strip() else _TYPES["text"]
        if len(properties) > MAX_FIELDS:
            raise InputError(f"--columns: more than {MAX_FIELDS} columns")
        schema = {
            "type": "object",
            "properties": properties,
            "required": list(properties),
            "additionalProperties": False,
        }
        return cls(schema, tuple(properties))

    @classmethod
    def from_schema_text(cls, text: str, where: str) -> AnswerShape:
        """A JSON Schema object, as given in a file (``where`` names it in errors)."""
        if len(text.encode()) > MAX_SCHEMA_BYTES:
            raise InputError(f"{where}: larger than {MAX_SCHEMA_BYTES:,} bytes")
        try:
            schema = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise InputError(f"{where}: not JSON ({exc.msg} at line {exc.lineno})") from None
        return cls.from_schema(schema, where)

    @classmethod
    def from_schema(cls, schema: Any, where: str = "--schema") -> AnswerShape:
        if not isinstance(schema, dict) or schema.get("type") != "object":
            raise InputError(f'{where}: the schema must be an object schema ("type": "object")')
        properties = schema.get("properties")
        if not isinstance(properties, dict) or not properties:
            raise InputError(f'{where}: "properties" must name at least one field')
        if len(properties) > MAX_FIELDS:
            raise InputError(f"{where}: more than {MAX_FIELDS} fields")
        for name, rule in properties.items():
            _checked_name(name, f"{where}: field")
            if not isinstance(rule, dict):
                raise InputError(f"{where}: field {name!r} must be described by an object")
            _check_rule(rule, f"{where}: field {name!r}")
        required = schema.get("required", [])
        if not isinstance(required, list) or any(r not in properties for r in required):
            raise InputError(f'{where}: "required" must list fields named in "properties"')
        return cls(schema, tuple(properties))

    @property
    def strict(self) -> bool:
        """Whether the schema meets the providers' strict mode: every object closed and every
        property required (docs/openai-batch.md#structured-outputs). A spec always does."""
        return _strict(self.schema)

    def openai_format(self) -> dict[str, Any]:
        return {
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": self.schema, "strict": self.strict},
        }

    def claude_format(self) -> dict[str, Any]:
        return {"format": {"type": "json_schema", "schema": self.schema}}

    def read(self, text: str) -> tuple[list[Any], str]:
        """The answer's value for each field (numbers and booleans as such, lists and objects
        as JSON text), and an error, empty when it fits."""
        empty = [""] * len(self.fields)
        try:
            answer = orjson.loads(text)
        except orjson.JSONDecodeError:
            return empty, f"the answer is not JSON: {_quoted(text)}"
        if not isinstance(answer, dict):
            return empty, f"the answer is not a JSON object: {_quoted(text)}"
        properties = self.schema["properties"]
        problems = []
        for name in self.schema.get("required", []):
            if name not in answer:
                problems.append(f"{name!r} is missing")
        values: list[Any] = []
        for name in self.fields:
            value = answer.get(name)
            problem = _misfit(value, properties[name]) if name in answer else None
            if problem:
                problems.append(f"{name!r} {problem}")
            values.append(_cell(value))
        if problems:
            return values, f"the answer does not fit the columns: {'; '.join(problems)}"
        return values, ""


def _checked_name(name: Any, where: str) -> str:
    if not isinstance(name, str) or not name:
        raise InputError(f"{where}: a column needs a name")
    if len(name) > MAX_NAME_CHARS or not _NAME.fullmatch(name):
        raise InputError(
            f"{where}: {name[:MAX_NAME_CHARS]!r} is not a column name halfrate asks for "
            f"(letters, digits, space, _ . -; at most {MAX_NAME_CHARS} characters)"
        )
    return name


def _spec_type(kind: str, name: str) -> dict[str, Any]:
    if "|" not in kind:
        known = _TYPES.get(kind.lower())
        if known is None:
            raise InputError(
                f"--columns {name!r}: {kind!r} is not a type: use text, number, integer, "
                "boolean, or the allowed values separated by | (positive|neutral|negative)"
            )
        return dict(known)
    choices = [choice.strip() for choice in kind.split("|")]
    if any(not choice for choice in choices):
        raise InputError(f"--columns {name!r}: an empty choice between | signs")
    if len(set(choices)) != len(choices):
        raise InputError(f"--columns {name!r}: a choice is listed twice")
    if len(choices) > MAX_CHOICES:
        raise InputError(f"--columns {name!r}: more than {MAX_CHOICES} choices")
    return {"type": "string", "enum": choices}


def _check_rule(rule: dict[str, Any], where: str) -> None:
    kinds = rule.get("type")
    listed = kinds if isinstance(kinds, list) else [kinds] if kinds is not None else []
    for kind in listed:
        if kind not in _JSON_TYPES:
            raise InputError(f"{where}: type {kind!r} is not a JSON Schema type")
    if "enum" in rule and (not isinstance(rule["enum"], list) or not rule["enum"]):
        raise InputError(f'{where}: "enum" must be a list of allowed values')


def _strict(schema: Any) -> bool:
    if not isinstance(schema, dict):
        return True
    if schema.get("type") == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        if schema.get("additionalProperties") is not False:
            return False
        if set(schema.get("required", [])) != set(properties):
            return False
        return all(_strict(rule) for rule in properties.values())
    if "items" in schema:
        return _strict(schema["items"])
    return all(_strict(branch) for branch in schema.get("anyOf", []))


def _type_fits(value: Any, kind: str) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "null":
        return value is None
    if kind == "array":
        return isinstance(value, list)
    if kind == "object":
        return isinstance(value, dict)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return kind == "number" or float(value).is_integer()


def _misfit(value: Any, rule: dict[str, Any]) -> str | None:
    """What is wrong with ``value`` under ``rule`` (one field's schema), or None."""
    kinds = rule.get("type")
    listed = kinds if isinstance(kinds, list) else [kinds] if isinstance(kinds, str) else []
    if listed and not any(_type_fits(value, kind) for kind in listed):
        return f"is {_quoted(orjson.dumps(value).decode(), 60)}, not {' or '.join(listed)}"
    if "enum" in rule and value not in rule["enum"]:
        allowed = ", ".join(str(choice) for choice in rule["enum"][:20])
        return f"is {value!r}, not one of {allowed}"
    if "const" in rule and value != rule["const"]:
        return f"is {value!r}, not {rule['const']!r}"
    if isinstance(value, int | float) and not isinstance(value, bool):
        low, high = rule.get("minimum"), rule.get("maximum")
        if isinstance(low, int | float) and value < low:
            return f"is {value}, below the minimum {low}"
        if isinstance(high, int | float) and value > high:
            return f"is {value}, above the maximum {high}"
        if not math.isfinite(value):
            return "is not a finite number"
    return None


def _cell(value: Any) -> Any:
    """What a table cell holds for a field's value: scalars as themselves, the rest as JSON."""
    if value is None:
        return ""
    if isinstance(value, str | int | float | bool):
        return value
    return orjson.dumps(value).decode()


def _quoted(text: str, limit: int = QUOTED_ANSWER_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
