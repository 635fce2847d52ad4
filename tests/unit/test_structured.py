"""Structured answers: the columns spec and schemas people give, checked with a clear message,
and every answer read back against them: what fits gives typed cells, what does not is an error
naming the field, never a silently empty cell."""

from __future__ import annotations

import pytest

from halfrate.errors import InputError
from halfrate.structured import MAX_FIELDS, AnswerShape

SPEC = "sentiment: positive|neutral|negative, product, score: number, urgent: boolean"


def test_a_spec_becomes_a_strict_object_schema_with_its_columns_in_order() -> None:
    shape = AnswerShape.from_spec(SPEC)
    assert shape.fields == ("sentiment", "product", "score", "urgent")
    assert shape.schema == {
        "type": "object",
        "properties": {
            "sentiment": {"type": "string", "enum": ["positive", "neutral", "negative"]},
            "product": {"type": "string"},
            "score": {"type": "number"},
            "urgent": {"type": "boolean"},
        },
        "required": ["sentiment", "product", "score", "urgent"],
        "additionalProperties": False,
    }
    assert shape.strict
    assert shape.openai_format()["json_schema"]["strict"] is True
    assert shape.claude_format() == {"format": {"type": "json_schema", "schema": shape.schema}}


def test_an_answer_that_fits_gives_typed_cells() -> None:
    shape = AnswerShape.from_spec(SPEC)
    values, error = shape.read(
        '{"sentiment": "neutral", "product": "=cmd", "score": 0.5, "urgent": true}'
    )
    assert error == ""
    assert values == ["neutral", "=cmd", 0.5, True]


@pytest.mark.parametrize(
    ("answer", "needle"),
    [
        ('{"sentiment": "angry", "product": "x", "score": 1, "urgent": false}', "'angry', not one"),
        ('{"sentiment": "neutral", "score": 1, "urgent": false}', "'product' is missing"),
        ('{"sentiment": "neutral", "product": "x", "score": "high", "urgent": false}', "number"),
        ('{"sentiment": "neutral", "product": "x", "score": 1, "urgent": "yes"}', "boolean"),
        ("Sure! Here is the JSON you asked for", "the answer is not JSON"),
        ('["neutral"]', "not a JSON object"),
        ('{"sentiment": "neutral", "product": "x", "score": 1, "urg', "not JSON"),
    ],
)
def test_an_answer_that_does_not_fit_is_an_error_naming_the_field(answer: str, needle: str) -> None:
    values, error = AnswerShape.from_spec(SPEC).read(answer)
    assert needle in error
    assert len(values) == 4


def test_a_schema_file_keeps_nesting_bounds_and_says_when_it_is_not_strict() -> None:
    shape = AnswerShape.from_schema_text(
        '{"type": "object", "properties": {"stars": {"type": "integer", "minimum": 1, '
        '"maximum": 5}, "tags": {"type": "array", "items": {"type": "string"}}}}',
        "--schema s.json",
    )
    assert shape.fields == ("stars", "tags")
    assert not shape.strict  # not every property required, not closed
    assert shape.read('{"stars": 4, "tags": ["a", "b"]}') == ([4, '["a","b"]'], "")
    assert "above the maximum 5" in shape.read('{"stars": 9, "tags": []}')[1]
    assert "integer" in shape.read('{"stars": 2.5, "tags": []}')[1]


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("", "--columns is empty"),
        ("a, a", "'a' is named twice"),
        ("a: colour", "'colour' is not a type"),
        ("a: x||y", "an empty choice"),
        ("a: x|x", "a choice is listed twice"),
        (":number", "a column needs a name"),
        ("a{b}", "is not a column name"),
        ("x" * 100, "is not a column name"),
        (", ".join(f"c{i}" for i in range(MAX_FIELDS + 1)), f"more than {MAX_FIELDS} columns"),
        ("a: " + "|".join(str(i) for i in range(600)), "more than 500 choices"),
    ],
)
def test_a_spec_that_cannot_parse_is_one_clear_message(spec: str, needle: str) -> None:
    with pytest.raises(InputError, match="--columns") as caught:
        AnswerShape.from_spec(spec)
    assert needle in str(caught.value)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "must be an object schema"),
        ('{"type": "string"}', "must be an object schema"),
        ('{"type": "object"}', '"properties" must name at least one field'),
        ('{"type": "object", "properties": {"a": 1}}', "must be described by an object"),
        ('{"type": "object", "properties": {"a": {"type": "text"}}}', "not a JSON Schema type"),
        ('{"type": "object", "properties": {"a": {}}, "required": ["b"]}', '"required" must'),
        ('{"type": "object", "properties": {"a": {"enum": []}}}', '"enum" must be a list'),
    ],
)
def test_a_schema_that_is_not_an_object_schema_is_refused_by_name(text: str, needle: str) -> None:
    with pytest.raises(InputError, match=r"--schema s\.json") as caught:
        AnswerShape.from_schema_text(text, "--schema s.json")
    assert needle in str(caught.value)


def test_a_huge_schema_is_refused_before_it_is_parsed() -> None:
    with pytest.raises(InputError, match="larger than"):
        AnswerShape.from_schema_text(" " * 300_000, "--schema s.json")
