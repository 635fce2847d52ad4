"""Streamed answers add back up to the unstreamed object; timing; what an error answer means."""

from __future__ import annotations

import email.utils
from typing import Any

import pytest

from halfrate.models import Lane, Verdict
from halfrate.providers.streams import (
    StreamFailed,
    Timing,
    chat_completion,
    message_object,
    response_object,
)
from halfrate.providers.sync import refused, retry_after


class Ticks:
    """A clock that moves one step each time it is read."""

    def __init__(self, step: float = 0.5) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        value = self.now
        self.now += self.step
        return value


def chunk(choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 7,
        "model": "m",
        "system_fingerprint": "fp",
        "choices": choices,
        **extra,
    }


def delta(index: int = 0, finish: str | None = None, **fields: Any) -> dict[str, Any]:
    return {"index": index, "delta": fields, "logprobs": None, "finish_reason": finish}


def test_chat_chunks_add_up_with_tool_calls_usage_and_timing() -> None:
    timing = Timing(clock=Ticks())
    chunks = [
        chunk([delta(role="assistant", content="")]),
        chunk([delta(content="Hel")]),
        chunk([delta(content="lo")]),
        chunk(
            [
                delta(
                    tool_calls=[
                        {
                            "index": 0,
                            "id": "t1",
                            "type": "function",
                            "function": {"name": "get", "arguments": '{"a"'},
                        }
                    ]
                )
            ]
        ),
        chunk([delta(tool_calls=[{"index": 0, "function": {"arguments": ": 1}"}}])]),
        chunk([delta(finish="tool_calls")]),
        chunk([], usage={"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}),
    ]
    answer = chat_completion(chunks, timing)
    assert answer == {
        "id": "c1",
        "object": "chat.completion",
        "created": 7,
        "model": "m",
        "system_fingerprint": "fp",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Hello",
                    "refusal": None,
                    "tool_calls": [
                        {
                            "id": "t1",
                            "type": "function",
                            "function": {"name": "get", "arguments": '{"a": 1}'},
                        }
                    ],
                },
                "logprobs": None,
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    }
    # Four pieces carried the answer; the clock ticks 0.5 per reading (start at 0).
    assert timing.ttft == 0.5
    assert timing.tibt == 0.5


def test_several_choices_keep_their_order() -> None:
    chunks = [
        chunk([delta(1, content="b"), delta(0, content="a")]),
        chunk([delta(0, "stop"), delta(1, "length")]),
    ]
    answer = chat_completion(chunks, Timing())
    assert [c["message"]["content"] for c in answer["choices"]] == ["a", "b"]
    assert [c["finish_reason"] for c in answer["choices"]] == ["stop", "length"]


def test_a_chat_stream_cut_short_is_not_an_answer() -> None:
    with pytest.raises(StreamFailed, match="before the answer was complete"):
        chat_completion([chunk([delta(content="half")])], Timing())
    with pytest.raises(StreamFailed):
        chat_completion([], Timing())


def test_responses_stream_ends_with_its_response() -> None:
    final = {"id": "resp_1", "object": "response", "status": "completed"}
    timing = Timing(clock=Ticks())
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": {"id": "resp_1"}},
        {"type": "response.output_text.delta", "delta": "Hi"},
        {"type": "response.output_text.delta", "delta": "!"},
        {"type": "response.completed", "response": final},
    ]
    assert response_object(events, timing) == final
    assert timing.ttft is not None
    assert timing.tibt is not None
    failed: list[dict[str, Any]] = [
        {
            "type": "response.failed",
            "response": {"error": {"code": "server_error", "message": "boom"}},
        }
    ]
    with pytest.raises(StreamFailed, match="boom"):
        response_object(failed, Timing())
    with pytest.raises(StreamFailed, match="before the response completed"):
        response_object([{"type": "response.created"}], Timing())


def test_anthropic_events_add_up_to_the_message() -> None:
    events: list[dict[str, Any]] = [
        {
            "type": "message_start",
            "message": {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": "claude-haiku-4-5",
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 10, "cache_read_input_tokens": 4, "output_tokens": 1},
            },
        },
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "A"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "B"}},
        {"type": "content_block_stop", "index": 0},
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {"type": "tool_use", "id": "tu", "name": "f", "input": {}},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": '{"x": '},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": "2}"},
        },
        {"type": "content_block_stop", "index": 1},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {"output_tokens": 12, "cache_read_input_tokens": None},
        },
        {"type": "message_stop"},
    ]
    message = message_object(events, Timing())
    assert message["content"] == [
        {"type": "text", "text": "AB"},
        {"type": "tool_use", "id": "tu", "name": "f", "input": {"x": 2}},
    ]
    assert message["stop_reason"] == "tool_use"
    assert message["usage"] == {
        "input_tokens": 10,
        "cache_read_input_tokens": 4,
        "output_tokens": 12,
    }
    error = [{"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}]
    with pytest.raises(StreamFailed) as info:
        message_object(error, Timing())
    assert info.value.code == "overloaded_error"
    with pytest.raises(StreamFailed, match="before the message was complete"):
        message_object(events[:4], Timing())


def test_retry_after_in_every_form() -> None:
    assert retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert retry_after({"retry-after": "1.5"}) == 1.5
    later = email.utils.formatdate(1_000_030, usegmt=True)
    assert retry_after({"retry-after": later}, now=1_000_000) == 30
    assert retry_after({"retry-after": "soon"}) is None
    assert retry_after({"retry-after-ms": "x"}) is None
    assert retry_after({}) is None
    assert retry_after({"retry-after": "-5"}) == 0


@pytest.mark.parametrize(
    ("lane", "status", "code", "verdict", "unavailable"),
    [
        (Lane.REALTIME, 400, "invalid_request_error", Verdict.FAILED, False),
        (Lane.REALTIME, 404, "not_found_error", Verdict.FAILED, False),
        (Lane.REALTIME, 429, "rate_limit_exceeded", Verdict.RETRY, False),
        (Lane.REALTIME, 500, "server_error", Verdict.RETRY, False),
        (Lane.REALTIME, 529, "overloaded_error", Verdict.RETRY, False),
        (Lane.FLEX, 429, "resource_unavailable", Verdict.RETRY, True),
        (Lane.FLEX, 429, "rate_limit_exceeded", Verdict.RETRY, False),
        (Lane.REALTIME, 429, "resource_unavailable", Verdict.RETRY, False),  # only flex falls back
    ],
)
def test_what_an_error_answer_means(
    lane: Lane, status: int, code: str, verdict: Verdict, unavailable: bool
) -> None:
    attempt = refused(lane, status, code, "m", {"retry-after": "2"}, Timing())
    assert (attempt.verdict, attempt.flex_unavailable) == (verdict, unavailable)
    assert attempt.retry_after == 2


def test_server_sent_events_however_the_bytes_are_cut() -> None:
    from halfrate.providers.sse import json_events, sse_messages

    raw = (
        b": a comment\r\n"
        b'event: message_start\r\ndata: {"type": "a"}\r\n\r\n'
        b'data: {"type":\ndata: "b"}\n\n'
        b"event: ping\ndata: {}\n\n"
        b"data: [DONE]\n\n"
        b'data: {"type": "after-done"}'
    )
    expected = [
        ("message_start", b'{"type": "a"}'),
        (None, b'{"type":\n"b"}'),
        ("ping", b"{}"),
        (None, b"[DONE]"),
        (None, b'{"type": "after-done"}'),
    ]
    for size in (1, 2, 3, 7, len(raw)):
        chunks = [raw[i : i + size] for i in range(0, len(raw), size)]
        assert list(sse_messages(chunks)) == expected, size
        events = [e.get("type") for e in json_events(chunks)]
        assert events == ["a", "b", None, "after-done"]  # read on past [DONE], to the end


def test_an_error_event_stops_the_stream_with_the_providers_words() -> None:
    from halfrate.providers.sse import json_events

    anthropic_error = (
        b'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", '
        b'"message": "Overloaded"}}\n\n'
    )
    with pytest.raises(StreamFailed) as info:
        list(json_events([anthropic_error]))
    assert (info.value.code, info.value.message) == ("overloaded_error", "Overloaded")
    openai_error = b'data: {"error": {"message": "boom", "type": "server_error"}}\n\n'
    with pytest.raises(StreamFailed, match="boom"):
        list(json_events([openai_error]))
    with pytest.raises(StreamFailed, match="unreadable event"):
        list(json_events([b"data: {nope\n\n"]))
