"""Whole-file validation of batch input files (pure)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from halfrate.sandbox.openai.validation import MAX_ERRORS, MAX_TASKS, validate

CHAT = "/v1/chat/completions"


def line(i: int, **changes: Any) -> dict[str, Any]:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"q{i}"}]}
    return {"custom_id": f"c{i}", "method": "POST", "url": CHAT, "body": body} | changes


def jsonl(*lines: Any) -> bytes:
    return b"".join((x if isinstance(x, bytes) else orjson.dumps(x)) + b"\n" for x in lines)


def codes(data: bytes, endpoint: str = CHAT) -> list[tuple[str, int | None, str | None]]:
    return [(e["code"], e["line"], e["param"]) for e in validate(data, endpoint).errors]


def test_valid_file_gives_tasks_in_input_order() -> None:
    result = validate(jsonl(line(0), line(1), line(2)), CHAT)
    assert result.ok
    assert [t.custom_id for t in result.tasks] == ["c0", "c1", "c2"]
    assert [t.line for t in result.tasks] == [1, 2, 3]
    assert result.model == "gpt-4o-mini"


def test_blank_lines_crlf_and_bom_are_tolerated() -> None:
    data = b"\xef\xbb\xbf" + orjson.dumps(line(0)) + b"\r\n\n" + orjson.dumps(line(1))
    result = validate(data, CHAT)
    assert result.ok
    assert [t.line for t in result.tasks] == [1, 3]


@pytest.mark.parametrize("data", [b"", b"\n", b"  \n\n"])
def test_empty_file(data: bytes) -> None:
    assert codes(data) == [("empty_file", None, None)]


def test_each_problem_is_reported_with_its_line() -> None:
    data = jsonl(
        line(0),
        b"{broken",
        line(0),  # duplicate of line 1
        line(3, url="/v1/embeddings"),
        line(4, body={"model": "gpt-4o", "messages": []}),
        line(5, method="GET"),
        {"method": "POST", "url": CHAT, "body": {}},
        line(7, custom_id=7),
        line(8, body="text"),
        line(9, body={"model": "gpt-4o-mini", "stream": True}),
        [1, 2],
        {"custom_id": "c11"},
    )
    assert codes(data) == [
        ("invalid_json_line", 2, None),
        ("duplicate_custom_id", 3, "custom_id"),
        ("url_mismatch", 4, "url"),
        ("model_mismatch", 5, "body.model"),
        ("invalid_request", 6, "method"),
        ("missing_required_parameter", 7, "custom_id"),
        ("invalid_request", 8, "custom_id"),
        ("invalid_request", 9, "body"),
        ("invalid_request", 10, "body.stream"),
        ("invalid_request", 11, None),
        ("missing_required_parameter", 12, "method"),
        ("missing_required_parameter", 12, "url"),
        ("missing_required_parameter", 12, "body"),
    ]
    result = validate(data, CHAT)
    assert result.tasks == []  # rejected whole
    assert result.errors[0]["message"] == "This line is not parseable as valid JSON."


def test_a_line_missing_the_model_is_left_to_the_endpoint() -> None:
    result = validate(jsonl(line(0, body={"messages": []})), CHAT)
    assert result.ok
    assert result.model is None


def test_too_many_tasks() -> None:
    one = orjson.dumps(line(0))
    data = b"\n".join(one.replace(b'"c0"', f'"c{i}"'.encode()) for i in range(MAX_TASKS + 2))
    assert codes(data) == [("too_many_tasks", MAX_TASKS + 1, None)]


def test_too_many_embedding_inputs() -> None:
    body = {"model": "text-embedding-3-small", "input": ["x"] * 30_000}
    lines = [
        {"custom_id": f"e{i}", "method": "POST", "url": "/v1/embeddings", "body": body}
        for i in range(2)
    ]
    assert codes(jsonl(*lines), "/v1/embeddings") == [("too_many_tasks", 2, "body.input")]


def test_errors_are_capped() -> None:
    data = b"x\n" * (MAX_ERRORS + 50)
    assert len(validate(data, CHAT).errors) == MAX_ERRORS
