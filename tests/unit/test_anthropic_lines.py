"""Anthropic Message Batches lines both ways: the create body, and the four result types."""

from __future__ import annotations

import io

import orjson

from halfrate.models import Usage, Verdict
from halfrate.providers.anthropic_lines import (
    line_overhead,
    parse_result_line,
    usage_of,
    write_create_body,
)


def test_create_body_is_the_stored_params_byte_for_byte() -> None:
    out = io.BytesIO()
    params = ['{"model":"claude-haiku-4-5","max_tokens":5}', '{"z":1,"a":[1,2]}']
    write_create_body(
        [("hr-1", "/v1/messages", params[0]), ("hr-2", "/v1/messages", params[1])], out
    )
    body = out.getvalue()
    assert orjson.loads(body) == {
        "requests": [
            {"custom_id": "hr-1", "params": orjson.loads(params[0])},
            {"custom_id": "hr-2", "params": orjson.loads(params[1])},
        ]
    }
    assert params[1].encode() in body  # key order kept: the request is not re-serialised
    empty = io.BytesIO()
    write_create_body([], empty)
    assert orjson.loads(empty.getvalue()) == {"requests": []}
    assert line_overhead() >= len(b'{"custom_id":"hr-1","params":},')


def test_usage_counts_the_whole_prompt_and_the_cache() -> None:
    message = {
        "usage": {
            "input_tokens": 100,
            "cache_creation_input_tokens": 2000,
            "cache_read_input_tokens": 5000,
            "cache_creation": {"ephemeral_5m_input_tokens": 500, "ephemeral_1h_input_tokens": 1500},
            "output_tokens": 40,
        }
    }
    assert usage_of(message) == Usage(
        input_tokens=7100,
        cached_tokens=5000,
        output_tokens=40,
        reasoning_tokens=0,
        cache_write_tokens=2000,
        cache_write_1h_tokens=1500,
    )
    assert usage_of({"usage": {"input_tokens": True}}) == Usage()
    assert usage_of({}) is None


def line(result: dict[str, object], custom_id: str = "hr-7") -> str:
    return orjson.dumps({"custom_id": custom_id, "result": result}).decode()


def test_the_four_result_types() -> None:
    message = {
        "id": "msg",
        "type": "message",
        "content": [],
        "usage": {"input_tokens": 3, "output_tokens": 4},
    }
    ok = parse_result_line(line({"type": "succeeded", "message": message}))
    assert ok is not None
    assert (ok.custom_id, ok.verdict, ok.usage) == ("hr-7", Verdict.SUCCEEDED, Usage(3, 0, 4))
    assert orjson.loads(ok.response_json or "") == message

    def errored(kind: str) -> str:
        error = {"type": "error", "error": {"type": kind, "message": "why"}, "request_id": "r"}
        return line({"type": "errored", "error": error})

    bad = parse_result_line(errored("invalid_request_error"))
    assert bad is not None
    assert (bad.verdict, bad.error_code, bad.error_message) == (
        Verdict.FAILED,
        "invalid_request_error",
        "why",
    )
    busy = parse_result_line(errored("overloaded_error"))
    assert busy is not None
    assert busy.verdict is Verdict.RETRY
    for kind in ("canceled", "expired"):
        stopped = parse_result_line(line({"type": kind}))
        assert stopped is not None
        assert (stopped.verdict, stopped.error_code, stopped.usage) == (Verdict.RETRY, kind, None)


def test_unreadable_lines_are_skipped() -> None:
    assert parse_result_line("") is None
    assert parse_result_line("{not json") is None
    assert parse_result_line('{"custom_id": "a"}') is None
    odd = parse_result_line(line({"type": "teleported"}))
    assert odd is not None
    assert odd.verdict is Verdict.RETRY
