"""Every kind of bad input file is rejected whole with one message naming the line and problem."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from halfrate.errors import InputError
from halfrate.intake import iter_jsonl, scan_jsonl

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
        scan_jsonl(path, max_line_bytes=LIMIT)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    return message


def test_valid_file_is_accepted_and_reread_identically(tmp_path: Path) -> None:
    path = write(
        tmp_path, line("a"), line("b", url="/v1/embeddings", body={"model": "m", "input": "x"})
    )
    summary = scan_jsonl(path, max_line_bytes=LIMIT)
    assert summary.lines == 2
    parsed = list(iter_jsonl(path, max_line_bytes=LIMIT, expected_sha256=summary.sha256))
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
            "Anthropic Message Batches line",
        ),
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
        scan_jsonl(tmp_path / "nope.jsonl", max_line_bytes=LIMIT)


def test_file_changed_between_validation_and_storing(tmp_path: Path) -> None:
    path = write(tmp_path, line("a"))
    summary = scan_jsonl(path, max_line_bytes=LIMIT)
    path.write_text(json.dumps(line("b")) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="changed while it was being submitted"):
        list(iter_jsonl(path, max_line_bytes=LIMIT, expected_sha256=summary.sha256))


def test_hostile_values_are_quoted_not_echoed_whole(tmp_path: Path) -> None:
    message = rejected(write(tmp_path, line(url="/v1/" + "A" * 5000)))
    assert len(message) < 600


def test_intake_accepts_exactly_the_endpoints_the_batch_api_accepts() -> None:
    from halfrate.intake import OPENAI_BATCH_ENDPOINTS
    from halfrate.sandbox.wire import BATCH_ENDPOINTS

    assert set(OPENAI_BATCH_ENDPOINTS) == set(BATCH_ENDPOINTS)
