"""The sandbox's structured answers (pure): JSON that fits its schema, every type, repeatably,
broken on purpose only when asked, and cut at the token cap like any answer.

:func:`schema_problems` is a small JSON Schema checker (the subset the sandbox answers to). The
integration tests in tests/integration/test_sandbox_structured.py use it too.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from collections import Counter
from typing import Any

import orjson
import pytest

from halfrate.sandbox.common.schema_answer import (
    FREE_OBJECT,
    answer_text,
    fitting_value,
    structured_reply,
)
from halfrate.tokens import count_text

PROMPT = "How do lighthouses rotate their beams across the harbour at night?"
_FORMATS = {
    "date-time": r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ",
    "date": r"\d{4}-\d\d-\d\d",
    "time": r"\d\d:\d\d:\d\dZ",
    "email": r"[^@\s]+@[^@\s]+\.[a-z]+",
    "uuid": r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
    "uri": r"https?://\S+",
    "hostname": r"[a-z0-9.-]+",
    "ipv4": r"(\d{1,3}\.){3}\d{1,3}",
    "ipv6": r"[0-9a-f:]+",
    "duration": r"P\d+D",
}
_TYPES: dict[str, Any] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}


def _same(a: Any, b: Any) -> bool:
    """JSON equality: ``True`` is not ``1``."""
    if _TYPES["number"](a) and _TYPES["number"](b):
        return bool(a == b)
    return type(a) is type(b) and a == b


def _pointer(root: Any, ref: str) -> Any:
    node = root
    for part in ref[2:].split("/") if ref != "#" else []:
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def schema_problems(value: Any, schema: Any, root: Any = None, path: str = "$") -> list[str]:
    """What keeps ``value`` from fitting ``schema`` (empty when it fits)."""
    root = schema if root is None else root
    if not isinstance(schema, dict):
        return []
    if "$ref" in schema:
        return schema_problems(value, _pointer(root, schema["$ref"]), root, path)
    out: list[str] = []
    for part in schema.get("allOf", []):
        out += schema_problems(value, part, root, path)
    if "anyOf" in schema:
        misfits = [schema_problems(value, b, root, path) for b in schema["anyOf"]]
        if all(misfits):
            out.append(f"{path}: fits no anyOf branch: " + "; ".join(m[0] for m in misfits))
    if "oneOf" in schema:
        fits = sum(not schema_problems(value, b, root, path) for b in schema["oneOf"])
        if fits != 1:
            out.append(f"{path}: fits {fits} oneOf branches")
    if "const" in schema and not _same(value, schema["const"]):
        out.append(f"{path}: {value!r} is not the const")
    if "enum" in schema and not any(_same(value, v) for v in schema["enum"]):
        out.append(f"{path}: {value!r} is not one of {schema['enum']}")
    kinds = schema.get("type")
    kinds = [kinds] if isinstance(kinds, str) else kinds
    if kinds is not None and not any(_TYPES[k](value) for k in kinds):
        return [*out, f"{path}: {value!r} is not of type {kinds}"]
    if _TYPES["number"](value):
        out += _number_problems(value, schema, path)
    elif isinstance(value, str):
        if len(value) < schema.get("minLength", 0) or len(value) > schema.get("maxLength", 1e9):
            out.append(f"{path}: length {len(value)} is out of bounds")
        fmt = schema.get("format")
        if fmt in _FORMATS and not re.fullmatch(_FORMATS[fmt], value):
            out.append(f"{path}: {value!r} is not a {fmt}")
    elif isinstance(value, list):
        if not schema.get("minItems", 0) <= len(value) <= schema.get("maxItems", 1e9):
            out.append(f"{path}: {len(value)} items is out of bounds")
        if schema.get("uniqueItems") and len({orjson.dumps(v) for v in value}) < len(value):
            out.append(f"{path}: items repeat")
        prefix = schema.get("prefixItems", [])
        for i, item in enumerate(value):
            sub = prefix[i] if i < len(prefix) else schema.get("items", {})
            out += schema_problems(item, sub, root, f"{path}[{i}]")
    elif isinstance(value, dict):
        properties = schema.get("properties", {})
        out += [f"{path}: {n!r} is missing" for n in schema.get("required", []) if n not in value]
        for name, item in value.items():
            if name in properties:
                out += schema_problems(item, properties[name], root, f"{path}.{name}")
            elif schema.get("additionalProperties") is False:
                out.append(f"{path}: {name!r} is not allowed")
    return out


def _number_problems(value: float, schema: dict[str, Any], path: str) -> list[str]:
    out = []
    if "minimum" in schema and value < schema["minimum"]:
        out.append(f"{path}: {value} < minimum")
    if "maximum" in schema and value > schema["maximum"]:
        out.append(f"{path}: {value} > maximum")
    if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
        out.append(f"{path}: {value} <= exclusiveMinimum")
    if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
        out.append(f"{path}: {value} >= exclusiveMaximum")
    step = schema.get("multipleOf")
    if step is not None and abs(value / step - round(value / step)) > 1e-9:
        out.append(f"{path}: {value} is not a multiple of {step}")
    return out


def seed(i: int) -> bytes:
    return hashlib.blake2b(f"body {i}".encode(), digest_size=32).digest()


def answers(schema: dict[str, Any], n: int = 40) -> list[Any]:
    """The answers to ``n`` different bodies, each checked to parse and fit ``schema``."""
    out = []
    for i in range(n):
        value = orjson.loads(answer_text(schema, seed(i), PROMPT))
        assert schema_problems(value, schema) == [], value
        assert value == fitting_value(schema, seed(i), PROMPT)
        out.append(value)
    return out


def strict_object(properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
        **extra,
    }


SPREADSHEET = strict_object(
    {
        "sentiment": {"type": "string", "enum": ["positive", "neutral", "negative"]},
        "product": {"type": "string"},
        "score": {"type": "number", "minimum": 0, "maximum": 1},
        "stars": {"type": "integer", "minimum": 1, "maximum": 5},
        "recommend": {"type": "boolean"},
    }
)


def test_each_scalar_type_gets_a_value_of_that_type() -> None:
    for kind in ("string", "integer", "number", "boolean", "null"):
        values = answers({"type": kind}, 10)
        assert all(_TYPES[kind](v) for v in values), kind
    assert {True, False} <= set(answers({"type": "boolean"}, 20))


def test_a_spreadsheet_schema_is_answered_with_every_column() -> None:
    values = answers(SPREADSHEET)
    assert all(list(v) == list(SPREADSHEET["properties"]) for v in values)  # schema order
    assert {v["sentiment"] for v in values} == {"positive", "neutral", "negative"}
    assert {v["stars"] for v in values} == {1, 2, 3, 4, 5}
    assert all(0 <= v["score"] <= 1 for v in values)


def test_strings_reuse_words_of_the_prompt() -> None:
    words = set(re.findall(r"[a-z]+", PROMPT.lower()))
    for value in answers({"type": "string"}, 10):
        assert value
        assert set(value.split()) <= words


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "integer", "minimum": -3, "maximum": 3},
        {"type": "integer", "exclusiveMinimum": 10, "exclusiveMaximum": 13},
        {"type": "integer", "minimum": 1000},
        {"type": "integer", "maximum": -1000},
        {"type": "integer", "minimum": 0, "maximum": 100, "multipleOf": 25},
        {"type": "number", "minimum": 0.5, "maximum": 0.75},
        {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 0.01},
        {"type": "number", "minimum": 2, "maximum": 2},
        {"type": "number", "minimum": 0, "maximum": 10, "multipleOf": 0.5},
        {"type": "number", "minimum": 5, "exclusiveMinimum": True},  # draft 4's form
    ],
)
def test_numbers_respect_their_bounds(schema: dict[str, Any]) -> None:
    values = answers(schema, 30)
    if schema.get("minimum") != schema.get("maximum"):
        assert len(set(values)) > 1


def test_enum_and_const() -> None:
    assert set(answers({"enum": ["a", 2, None, True]}, 60)) == {"a", 2, None, True}
    assert answers({"const": {"x": [1]}}, 3) == [{"x": [1]}] * 3


@pytest.mark.parametrize("fmt", sorted(_FORMATS))
def test_string_formats_are_well_formed(fmt: str) -> None:
    answers({"type": "string", "format": fmt}, 10)


def test_string_lengths_are_kept() -> None:
    answers({"type": "string", "minLength": 120}, 10)
    answers({"type": "string", "maxLength": 3}, 10)
    answers({"type": "string", "minLength": 7, "maxLength": 7}, 10)


def test_arrays_of_items_within_their_counts() -> None:
    values = answers({"type": "array", "items": {"type": "integer", "maximum": 9}})
    assert {len(v) for v in values} == {1, 2, 3}
    answers({"type": "array", "items": {"type": "string"}, "minItems": 5, "maxItems": 6})
    answers({"type": "array", "items": {"type": "boolean"}, "maxItems": 0})
    answers({"type": "array", "items": {"enum": ["x", "y", "z"]}, "uniqueItems": True})
    tuple_schema = {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}]}
    answers(tuple_schema | {"minItems": 2, "items": False})


def test_nested_objects_and_references() -> None:
    schema = strict_object(
        {"address": {"$ref": "#/$defs/Address"}, "people": {"type": "array", "items": {}}},
        **{
            "$defs": {
                "Address": strict_object({"city": {"type": "string"}, "zip": {"type": "integer"}})
            }
        },
    )
    schema["properties"]["people"]["items"] = strict_object({"name": {"type": "string"}})
    for value in answers(schema, 10):
        assert set(value["address"]) == {"city", "zip"}


def test_a_recursive_schema_ends_small() -> None:
    node = strict_object(
        {"name": {"type": "string"}, "children": {"type": "array", "items": {"$ref": "#"}}}
    )
    for i in range(20):
        text = answer_text(node, seed(i), PROMPT)
        assert schema_problems(orjson.loads(text), node) == []
        assert len(text) < 4000


def test_any_of_and_nullable_types_pick_each_branch() -> None:
    picked = answers({"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]})
    assert {type(v) for v in picked} == {str, int, type(None)}
    nullable = answers({"type": ["number", "null"], "minimum": 3, "maximum": 4})
    assert {type(v) for v in nullable} == {float, type(None)}
    opened = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    merged = {"allOf": [opened, {"required": ["b"]}]}
    assert all(set(v) == {"a", "b"} for v in answers(merged, 5))


def test_json_mode_answers_a_small_object() -> None:
    for value in answers(FREE_OBJECT, 5):
        assert isinstance(value, dict)
        assert value
    assert answers({"type": "object", "additionalProperties": False}, 2) == [{}, {}]


def test_the_same_seed_gives_the_same_text_and_others_differ() -> None:
    texts = {answer_text(SPREADSHEET, seed(i), PROMPT) for i in range(20)}
    assert len(texts) > 15
    assert answer_text(SPREADSHEET, seed(3), PROMPT) == answer_text(SPREADSHEET, seed(3), PROMPT)


def test_answers_are_identical_across_processes() -> None:
    # Another interpreter has another hash() seed; the answers must not depend on it.
    script = (
        "import sys, orjson, hashlib\n"
        "from halfrate.sandbox.common.schema_answer import answer_text\n"
        "schema, prompt = orjson.loads(sys.stdin.buffer.read())\n"
        "seeds = [hashlib.blake2b(f'body {i}'.encode(), digest_size=32).digest()\n"
        "         for i in range(5)]\n"
        "texts = [answer_text(schema, s, prompt, broken=b) for s in seeds for b in (False, True)]\n"
        "sys.stdout.buffer.write(orjson.dumps(texts))\n"
    )
    there = subprocess.run(
        [sys.executable, "-c", script],
        input=orjson.dumps([SPREADSHEET, PROMPT]),
        capture_output=True,
        check=True,
    ).stdout
    here = [
        answer_text(SPREADSHEET, seed(i), PROMPT, broken=b) for i in range(5) for b in (False, True)
    ]
    assert orjson.loads(there) == here


def _break_kind(text: str, schema: dict[str, Any]) -> str:
    """Which break a broken answer shows (and that it does break the schema)."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return "not_json"
    problems = schema_problems(value, schema)
    assert problems, text
    if any("is missing" in p for p in problems):
        return "missing"
    if any("is not one of" in p for p in problems):
        return "enum"
    assert any("is not of type ['number']" in p or "['integer']" in p for p in problems), problems
    return "number"


def test_broken_answers_break_the_schema_in_each_way() -> None:
    kinds = Counter(
        _break_kind(answer_text(SPREADSHEET, seed(i), PROMPT, broken=True), SPREADSHEET)
        for i in range(80)
    )
    assert set(kinds) == {"not_json", "missing", "enum", "number"}
    broken = answer_text(SPREADSHEET, seed(1), PROMPT, broken=True)
    assert broken == answer_text(SPREADSHEET, seed(1), PROMPT, broken=True)  # repeatable


@pytest.mark.parametrize(
    "schema",
    [
        FREE_OBJECT,
        {"type": "object", "properties": {"note": {"type": "string"}}},  # nothing required
        {"anyOf": [{"enum": ["a", "b"]}, {"type": "string"}]},  # a sibling takes any string
        {"type": ["integer", "string"]},  # a string fits where the number was
    ],
)
def test_without_a_sure_break_the_answer_is_not_json(schema: dict[str, Any]) -> None:
    for i in range(10):
        assert _break_kind(answer_text(schema, seed(i), PROMPT, broken=True), schema) == "not_json"


def test_an_optional_field_can_still_break() -> None:
    schema = strict_object({"level": {"anyOf": [{"enum": ["low", "high"]}, {"type": "null"}]}})
    kinds = {
        _break_kind(answer_text(schema, seed(i), PROMPT, broken=True), schema) for i in range(40)
    }
    assert "enum" in kinds


def test_breaks_prefer_top_level_fields() -> None:
    inner = strict_object({"kind": {"enum": ["a", "b"]}})
    schema = strict_object({"top": {"enum": ["x", "y"]}, "inner": inner})
    for i in range(40):
        text = answer_text(schema, seed(i), PROMPT, broken=True)
        if text.startswith("{"):
            value = orjson.loads(text)
            assert "inner" not in value or value["inner"].get("kind") in ("a", "b")


@pytest.mark.parametrize("model", ["gpt-4o-mini", "claude-haiku-4-5"])
def test_the_token_cap_cuts_the_json(model: str) -> None:
    full, count, cut = structured_reply(model, SPREADSHEET, PROMPT, seed(0), None)
    assert not cut
    assert count == count_text(model, full).tokens
    assert structured_reply(model, SPREADSHEET, PROMPT, seed(0), count) == (full, count, False)
    text, tokens, cut = structured_reply(model, SPREADSHEET, PROMPT, seed(0), 5)
    assert cut
    assert tokens == 5
    assert full.startswith(text)
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(text)


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "number", "minimum": -1e308, "maximum": 1e308},
        {"type": "number", "maximum": 1e308, "multipleOf": 1e-300},
        {"type": "integer", "minimum": 1e30},  # beyond 64 bits: still written as JSON
        {"anyOf": [{"allOf": [{"$ref": "#"}]}, {"type": "string"}]},  # refers back to itself
        {"type": "object", "properties": {"p": "not a schema"}, "required": "p"},
    ],
)
def test_odd_schemas_still_get_json(schema: dict[str, Any]) -> None:
    for i in range(10):
        for broken in (False, True):
            text = answer_text(schema, seed(i), PROMPT, broken=broken)
            assert "Infinity" not in text
            if not broken:
                orjson.loads(text)
