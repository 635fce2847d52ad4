"""Request bodies checked for the shape the provider needs before anything is stored: each broken
body is refused naming its field; bodies the providers take, including fields halfrate does not
know, pass."""

from __future__ import annotations

from typing import Any

import pytest

from halfrate.errors import InputError
from halfrate.intake.line_formats import check_body, check_params

USER = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("endpoint", "body", "needle"),
    [
        (
            "/v1/chat/completions",
            {"model": "gpt-4o-mini", "messages": "notalist"},
            "'body.messages' must be a non-empty list",
        ),
        (
            "/v1/chat/completions",
            {"model": "gpt-4o-mini"},
            "'body.messages' must be a non-empty list",
        ),
        ("/v1/chat/completions", {"model": "gpt-4o-mini", "messages": []}, "non-empty list"),
        (
            "/v1/chat/completions",
            {"model": "gpt-4o-mini", "messages": ["hi"]},
            "'body.messages[0]' must be a message object",
        ),
        (
            "/v1/chat/completions",
            {"model": "gpt-4o-mini", "messages": [{"role": "boss", "content": "x"}]},
            "'body.messages[0].role' must be one of",
        ),
        (
            "/v1/chat/completions",
            {"model": "gpt-4o-mini", "messages": [{"role": "user"}]},
            "'body.messages[0].content' must be text",
        ),
        (
            "/v1/chat/completions",
            {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": 7}]},
            "got the number 7",
        ),
        (
            "/v1/chat/completions",
            {"model": "gpt-4o-mini", "messages": USER, "max_tokens": "ten"},
            "'body.max_tokens' must be a whole number ≥ 1, got a string",
        ),
        (
            "/v1/chat/completions",
            {"model": "gpt-4o-mini", "messages": USER, "max_tokens": 0},
            "got the number 0",
        ),
        (
            "/v1/chat/completions",
            {"model": "gpt-4o-mini", "messages": USER, "max_completion_tokens": True},
            "got true",
        ),
        (
            "/v1/chat/completions",
            {"model": "gpt-4o-mini", "messages": USER, "temperature": 3},
            "'body.temperature' must be a number from 0 to 2",
        ),
        (
            "/v1/chat/completions",
            {"model": "gpt-4o-mini", "messages": USER, "top_p": "all"},
            "'body.top_p'",
        ),
        ("/v1/chat/completions", {"model": "gpt-4o-mini", "messages": USER, "n": 0}, "'body.n'"),
        ("/v1/responses", {"model": "gpt-4o-mini"}, "'body.input' is missing"),
        ("/v1/responses", {"model": "gpt-4o-mini", "input": 5}, "'body.input' must be text"),
        (
            "/v1/embeddings",
            {"model": "text-embedding-3-small", "input": []},
            "'body.input' must be text or a non-empty list",
        ),
        (
            "/v1/completions",
            {"model": "gpt-3.5-turbo-instruct", "prompt": {"a": 1}},
            "'body.prompt'",
        ),
    ],
)
def test_broken_openai_bodies_name_their_field(endpoint: str, body: Any, needle: str) -> None:
    with pytest.raises(InputError) as refused:
        check_body(endpoint, body)
    assert needle in str(refused.value)


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"messages": "notalist"}, "'params.messages' must be a non-empty list"),
        (
            {"messages": [{"role": "system", "content": "x"}]},
            "'params.messages[0].role' must be one of assistant, user",
        ),
        (
            {"messages": [{"role": "user", "content": None}]},
            "'params.messages[0].content' must be text",
        ),
        ({"messages": USER, "system": 3}, "'params.system' must be text"),
        (
            {"messages": USER, "temperature": 1.5},
            "'params.temperature' must be a number from 0 to 1",
        ),
        ({"messages": USER, "top_k": -1}, "'params.top_k'"),
    ],
)
def test_broken_claude_params_name_their_field(params: dict[str, Any], needle: str) -> None:
    with pytest.raises(InputError) as refused:
        check_params({"model": "claude-haiku-4-5", "max_tokens": 100, **params})
    assert needle in str(refused.value)


@pytest.mark.parametrize(
    ("endpoint", "body"),
    [
        (
            "/v1/chat/completions",
            {
                "model": "gpt-4o-mini",
                "messages": USER,
                "max_tokens": 20,
                "temperature": 0,
                "some_new_field": {"x": 1},
            },
        ),
        (
            "/v1/chat/completions",
            {
                "model": "gpt-4o-mini",
                "messages": [
                    *USER,
                    {"role": "assistant", "content": None, "tool_calls": []},
                    {"role": "tool", "content": "42", "tool_call_id": "c1"},
                ],
            },
        ),
        (
            "/v1/chat/completions",
            {
                "model": "gpt-4o-mini",
                "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
            },
        ),
        ("/v1/responses", {"model": "gpt-4o-mini", "input": "hi", "max_output_tokens": 50}),
        ("/v1/responses", {"model": "gpt-4o-mini", "input": [{"role": "user", "content": "hi"}]}),
        ("/v1/embeddings", {"model": "text-embedding-3-small", "input": ["a", "b"]}),
        ("/v1/embeddings", {"model": "text-embedding-3-small", "input": [1, 2, 3]}),
        ("/v1/completions", {"model": "gpt-3.5-turbo-instruct", "prompt": "Say hi"}),
        ("/v1/moderations", {"input": "anything"}),
    ],
)
def test_bodies_the_providers_take_pass(endpoint: str, body: dict[str, Any]) -> None:
    check_body(endpoint, body)


def test_claude_params_the_provider_takes_pass() -> None:
    check_params(
        {
            "model": "claude-haiku-4-5",
            "max_tokens": 100,
            "system": [{"type": "text", "text": "Be brief."}],
            "messages": [
                *USER,
                {"role": "assistant", "content": [{"type": "text", "text": "hello"}]},
            ],
            "temperature": 1,
            "top_k": 5,
            "thinking": {"type": "disabled"},
        }
    )
