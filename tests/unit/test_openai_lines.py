"""Building OpenAI batch lines and classifying output/error-file lines, without a network."""

from __future__ import annotations

import json

import orjson

from halfrate.models import Usage, Verdict
from halfrate.providers.base import custom_id_for, request_id_from
from halfrate.providers.openai_lines import batch_line, line_overhead, parse_output_line


def out(**fields: object) -> str:
    return json.dumps({"id": "batch_req_1", "custom_id": "hr-7", **fields})


def test_batch_line_keeps_the_body_byte_for_byte() -> None:
    body = (
        '{"model":"gpt-4o-mini","messages":[{"role":"user",'
        '"content":"h\\u00e9 \\"q\\""}],"temperature":0.25}'
    )
    raw = batch_line("hr-12", "/v1/chat/completions", body)
    assert raw.endswith(b"}\n")
    parsed = orjson.loads(raw)
    assert parsed["custom_id"] == "hr-12"
    assert parsed["method"] == "POST"
    assert parsed["url"] == "/v1/chat/completions"
    assert orjson.dumps(parsed["body"]) == orjson.dumps(orjson.loads(body))
    assert body.encode() in raw


def test_line_overhead_covers_the_longest_custom_id() -> None:
    endpoint = "/v1/embeddings"
    longest = batch_line(custom_id_for(10**19), endpoint, "{}")
    assert len(longest) - 2 <= line_overhead(endpoint)


def test_custom_id_round_trip_and_foreign_ids() -> None:
    assert request_id_from(custom_id_for(42)) == 42
    assert request_id_from("request-1") is None
    assert request_id_from("hr-") is None
    assert request_id_from("hr-12x") is None


def test_success_line_with_chat_usage() -> None:
    body = {
        "choices": [],
        "usage": {
            "prompt_tokens": 30,
            "completion_tokens": 5,
            "total_tokens": 35,
            "prompt_tokens_details": {"cached_tokens": 10},
            "completion_tokens_details": {"reasoning_tokens": 2},
        },
    }
    parsed = parse_output_line(out(response={"status_code": 200, "body": body}, error=None))
    assert parsed is not None
    assert parsed.custom_id == "hr-7"
    assert parsed.verdict is Verdict.SUCCEEDED
    assert parsed.usage == Usage(
        input_tokens=30, cached_tokens=10, output_tokens=5, reasoning_tokens=2
    )
    assert orjson.loads(parsed.response_json or "null") == body


def test_responses_and_embeddings_usage_shapes() -> None:
    responses = {
        "usage": {
            "input_tokens": 9,
            "input_tokens_details": {"cached_tokens": 4},
            "output_tokens": 3,
        }
    }
    parsed = parse_output_line(out(response={"status_code": 200, "body": responses}, error=None))
    assert parsed is not None
    assert parsed.usage == Usage(9, 4, 3, 0)
    embeddings = {"usage": {"prompt_tokens": 8, "total_tokens": 8}}
    parsed = parse_output_line(out(response={"status_code": 200, "body": embeddings}, error=None))
    assert parsed is not None
    assert parsed.usage == Usage(8, 0, 0, 0)


def test_cache_writes_of_the_models_that_bill_them_are_read_from_either_shape() -> None:
    chat = {
        "usage": {
            "prompt_tokens": 3000,
            "prompt_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 2944},
            "completion_tokens": 5,
        }
    }
    responses = {
        "usage": {
            "input_tokens": 3000,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 2944},
            "output_tokens": 5,
        }
    }
    for body in (chat, responses):
        parsed = parse_output_line(out(response={"status_code": 200, "body": body}, error=None))
        assert parsed is not None
        assert parsed.usage == Usage(input_tokens=3000, output_tokens=5, cache_write_tokens=2944)
    # A JSON true is not a count.
    chat["usage"]["prompt_tokens_details"] = {"cache_write_tokens": True}
    parsed = parse_output_line(out(response={"status_code": 200, "body": chat}, error=None))
    assert parsed is not None
    assert parsed.usage is not None
    assert parsed.usage.cache_write_tokens == 0


def test_4xx_line_fails_with_the_providers_message() -> None:
    body = {
        "error": {"message": "messages is required", "type": "invalid_request_error", "code": None}
    }
    parsed = parse_output_line(out(response={"status_code": 400, "body": body}, error=None))
    assert parsed is not None
    assert parsed.verdict is Verdict.FAILED
    assert parsed.status_code == 400
    assert parsed.error_code == "invalid_request_error"
    assert parsed.error_message == "messages is required"


def test_checking_only_error_would_be_wrong_for_non_2xx() -> None:
    parsed = parse_output_line(out(response={"status_code": 404, "body": {}}, error=None))
    assert parsed is not None
    assert parsed.verdict is Verdict.FAILED


def test_rate_limits_and_server_errors_retry() -> None:
    for status in (429, 500, 503, 408):
        parsed = parse_output_line(out(response={"status_code": status, "body": {}}, error=None))
        assert parsed is not None
        assert parsed.verdict is Verdict.RETRY, status


def test_lines_that_never_ran_retry_and_others_fail() -> None:
    for code in ("batch_expired", "batch_cancelled", "request_timeout"):
        parsed = parse_output_line(out(response=None, error={"code": code, "message": "m"}))
        assert parsed is not None
        assert parsed.verdict is Verdict.RETRY
        assert parsed.error_code == code
    parsed = parse_output_line(
        out(response=None, error={"code": "content_policy", "message": "no"})
    )
    assert parsed is not None
    assert parsed.verdict is Verdict.FAILED


def test_unreadable_lines_are_skipped() -> None:
    assert parse_output_line("") is None
    assert parse_output_line("not json") is None
    assert parse_output_line('{"response": {}}') is None
