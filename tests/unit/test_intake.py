"""Every kind of bad input file is rejected whole with one message naming the line and problem."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from halfrate.errors import InputError
from halfrate.intake.jsonl import checked_jsonl, file_sha256

LIMIT = 10_000


def line(custom_id: Any = "a", **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "custom_id": custom_id,
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
    }
    base.update(overrides)
    return base


def write(tmp_path: Path, *lines: Any, raw: bytes | None = None) -> Path:
    path = tmp_path / "requests.jsonl"
    if raw is not None:
        path.write_bytes(raw)
    else:
        path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    return path


def rejected(path: Path) -> str:
    with pytest.raises(InputError) as info:
        list(checked_jsonl(path, max_line_bytes=LIMIT))
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    return message


def test_valid_file_is_accepted_and_reread_identically(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        line("a"),
        line("b", url="/v1/embeddings", body={"model": "text-embedding-3-small", "input": "x"}),
    )
    parsed = list(checked_jsonl(path, max_line_bytes=LIMIT, expected_sha256=file_sha256(path)))
    assert len(parsed) == 2
    assert [p.key for p in parsed] == ["a", "b"]
    assert [p.line_no for p in parsed] == [1, 2]
    assert parsed[1].endpoint == "/v1/embeddings"
    assert json.loads(parsed[0].body_json) == line()["body"]


def test_blank_lines_are_skipped_but_counted_for_line_numbers(tmp_path: Path) -> None:
    raw = (json.dumps(line("a")) + "\n\n" + '{"custom_id": 5}\n').encode()
    message = rejected(write(tmp_path, raw=raw))
    assert "line 3" in message


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        (json.dumps({k: v for k, v in line().items() if k != "url"}), "missing field 'url'"),
        (json.dumps({k: v for k, v in line().items() if k != "body"}), "missing field 'body'"),
        (json.dumps(line(url="/v1/audio/speech")), "is not a Batch API endpoint"),
        (json.dumps(line(method="GET")), "'method' must be \"POST\""),
        (
            json.dumps(line(body={"model": "gpt-4o-mini", "stream": True, "messages": []})),
            "'body.stream' is true",
        ),
        (json.dumps(line(body={"messages": []})), "'body.model' is missing"),
        (json.dumps(line(body={"model": ""})), "'body.model' must be a non-empty string"),
        (json.dumps(line(body="text")), "'body' must be a JSON object"),
        (json.dumps(line(custom_id="")), "'custom_id' must be a non-empty string"),
        (json.dumps(line(custom_id=7)), "'custom_id' must be a non-empty string"),
        (json.dumps(line(custom_id="x" * 600)), "longer than 512 characters"),
        (json.dumps({**line(), "extra": 1}), "unknown field 'extra'"),
        (
            json.dumps({"custom_id": "a", "params": {"model": "claude-haiku-4-5"}}),
            "an Anthropic request line in a file of OpenAI lines",
        ),
        (json.dumps(line(body={"model": "claude-haiku-4-5"})), "is an Anthropic model"),
        (json.dumps(line(body={"model": "llama-3-70b"})), "not a model halfrate knows"),
        (json.dumps({**line(), "params": {}}), "either Anthropic's 'params' or OpenAI's"),
    ],
)
def test_bad_line_names_line_and_problem(tmp_path: Path, bad: str, expected: str) -> None:
    raw = (json.dumps(line("ok")) + "\n" + bad + "\n").encode()
    message = rejected(write(tmp_path, raw=raw))
    assert "line 2" in message
    assert expected in message


def test_duplicate_custom_id_names_both_lines(tmp_path: Path) -> None:
    message = rejected(write(tmp_path, line("a"), line("b"), line("a")))
    assert "line 3" in message
    assert "duplicate custom_id 'a' (first on line 1)" in message


def test_non_utf8_bytes(tmp_path: Path) -> None:
    raw = json.dumps(line("a")).encode() + b"\n" + b'{"custom_id": "\xff\xfe"}\n'
    message = rejected(write(tmp_path, raw=raw))
    assert "line 2" in message
    assert "not valid UTF-8" in message


@pytest.mark.parametrize("raw", [b"", b"\n\n  \n"])
def test_empty_file(tmp_path: Path, raw: bytes) -> None:
    assert "no requests" in rejected(write(tmp_path, raw=raw))


def test_line_over_the_size_limit_is_not_read_whole(tmp_path: Path) -> None:
    huge = line("big", body={"model": "m", "messages": [{"role": "user", "content": "x" * 50_000}]})
    message = rejected(write(tmp_path, line("a"), huge))
    assert "line 2" in message
    assert "longer than the limit of 10,000 bytes" in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read file"):
        file_sha256(tmp_path / "nope.jsonl")
    with pytest.raises(InputError, match="cannot read file"):
        list(checked_jsonl(tmp_path / "nope.jsonl", max_line_bytes=LIMIT))


def test_file_changed_between_validation_and_storing(tmp_path: Path) -> None:
    path = write(tmp_path, line("a"))
    hashed = file_sha256(path)
    path.write_text(json.dumps(line("b")) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="changed while it was being submitted"):
        list(checked_jsonl(path, max_line_bytes=LIMIT, expected_sha256=hashed))


def test_hostile_values_are_quoted_not_echoed_whole(tmp_path: Path) -> None:
    message = rejected(write(tmp_path, line(url="/v1/" + "A" * 5000)))
    assert len(message) < 600


def test_intake_accepts_exactly_the_endpoints_the_batch_api_accepts() -> None:
    from halfrate.intake.line_formats import OPENAI_BATCH_ENDPOINTS
    from halfrate.sandbox.openai.wire import BATCH_ENDPOINTS

    assert set(OPENAI_BATCH_ENDPOINTS) == set(BATCH_ENDPOINTS)


def anthropic_line(custom_id: Any = "a", **params: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "model": "claude-haiku-4-5",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "hi"}],
    }
    return {"custom_id": custom_id, "params": {**base, **params}}


def test_anthropic_file_is_accepted_with_models_mixed(tmp_path: Path) -> None:
    path = write(
        tmp_path, anthropic_line("a"), anthropic_line("b", model="claude-sonnet-4-5-20250929")
    )
    parsed = list(checked_jsonl(path, max_line_bytes=LIMIT, expected_sha256=file_sha256(path)))
    assert len(parsed) == 2
    assert [(p.provider.value, p.endpoint, p.model) for p in parsed] == [
        ("anthropic", "/v1/messages", "claude-haiku-4-5"),
        ("anthropic", "/v1/messages", "claude-sonnet-4-5-20250929"),
    ]
    assert json.loads(parsed[0].body_json) == anthropic_line()["params"]


def test_a_custom_id_anthropic_would_refuse_is_kept_as_the_key(tmp_path: Path) -> None:
    """halfrate sends its own short ids to the provider, so the caller's stay as they are."""
    odd = "ticket #42 / résumé / " + "x" * 80  # spaces, slashes, accents, over 64 characters
    path = write(tmp_path, anthropic_line(odd))
    parsed = list(checked_jsonl(path, max_line_bytes=LIMIT))
    assert parsed[0].key == odd


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        (json.dumps(line("x")), "an OpenAI request line in a file of Anthropic lines"),
        (json.dumps(anthropic_line(model="gpt-4o")), "is an OpenAI model"),
        (json.dumps(anthropic_line(model="mistral-large")), "not a model halfrate knows"),
        (json.dumps(anthropic_line(model=5)), "'params.model' must be a non-empty string"),
        (json.dumps({"custom_id": "a", "params": "text"}), "'params' must be a JSON object"),
        (json.dumps(anthropic_line(max_tokens=0)), "'params.max_tokens' must be a whole number"),
        (json.dumps(anthropic_line(max_tokens=True)), "'params.max_tokens' must be a whole"),
        (json.dumps(anthropic_line(messages=[])), "'params.messages' must be a non-empty list"),
        (json.dumps(anthropic_line(stream=True)), "'params.stream' is not allowed"),
        (json.dumps(anthropic_line(speed="fast")), "'params.speed' is not allowed"),
        (json.dumps({**anthropic_line(), "extra": 1}), "unknown field 'extra'"),
        (json.dumps({"custom_id": "b"}), "missing field 'params'"),
    ],
)
def test_bad_anthropic_line_names_line_and_problem(tmp_path: Path, bad: str, expected: str) -> None:
    raw = (json.dumps(anthropic_line("ok")) + "\n" + bad + "\n").encode()
    message = rejected(write(tmp_path, raw=raw))
    assert "line 2" in message
    assert expected in message


def test_missing_max_tokens_is_named(tmp_path: Path) -> None:
    params = {k: v for k, v in anthropic_line()["params"].items() if k != "max_tokens"}
    message = rejected(write(tmp_path, {"custom_id": "a", "params": params}))
    assert "'params.max_tokens' is missing" in message
