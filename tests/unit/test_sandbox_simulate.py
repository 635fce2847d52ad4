"""Simulated answers (pure): deterministic, marked, realistic, and counted with tiktoken."""

from __future__ import annotations

import base64
import math
import random
import struct
import subprocess
import sys
from typing import Any

import orjson
import pytest

from halfrate.sandbox.common.compose import MARKER, keywords, reply
from halfrate.sandbox.openai.simulate import FINGERPRINT, simulate
from halfrate.tokens import count_text

CHAT = "/v1/chat/completions"
EMBEDDINGS = "/v1/embeddings"
RESPONSES = "/v1/responses"


def chat_body(content: str = "How do lighthouses work at night?", **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}], **extra}


def test_chat_completion_shape() -> None:
    outcome = simulate(CHAT, chat_body(), created=1_700_000_000)
    assert outcome.ok
    body = outcome.body
    assert body["id"].startswith("chatcmpl-")
    assert body["object"] == "chat.completion"
    assert body["created"] == 1_700_000_000
    assert body["model"] == "gpt-4o-mini"
    assert body["system_fingerprint"] == FINGERPRINT
    assert body["service_tier"] == "default"
    (choice,) = body["choices"]
    assert choice["index"] == 0
    assert choice["logprobs"] is None
    assert choice["finish_reason"] == "stop"
    message = choice["message"]
    assert (message["role"], message["refusal"]) == ("assistant", None)
    assert message["content"].startswith(MARKER)
    assert "How do lighthouses work at night?" in message["content"]  # shows what it answers
    usage = body["usage"]
    assert usage["completion_tokens"] == count_text("gpt-4o-mini", message["content"]).tokens
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["prompt_tokens_details"] == {"cached_tokens": 0, "audio_tokens": 0}
    assert usage["completion_tokens_details"] == {
        "reasoning_tokens": 0,
        "audio_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    }
    assert (outcome.input_tokens, outcome.output_tokens) == (
        usage["prompt_tokens"],
        usage["completion_tokens"],
    )


def test_prompt_token_rule() -> None:
    # 3 per message + role + content, plus 1 + name; 3 to prime the reply.
    model = "gpt-4o-mini"
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello there", "name": "ann"},
    ]
    expected = 3 + sum(
        3 + count_text(model, m["role"]).tokens + count_text(model, m["content"]).tokens
        for m in messages
    )
    expected += 1 + count_text(model, "ann").tokens
    body = {"model": model, "messages": messages}
    assert simulate(CHAT, body, 0).body["usage"]["prompt_tokens"] == expected


def test_same_body_same_answer_different_body_different_answer() -> None:
    first = orjson.dumps(simulate(CHAT, chat_body(), 5).body)
    assert orjson.dumps(simulate(CHAT, dict(reversed(chat_body().items())), 5).body) == first
    other = simulate(CHAT, chat_body(temperature=0.2), 5).body
    assert orjson.dumps(other) != first


def test_answers_are_identical_across_processes() -> None:
    # Another interpreter has another hash() seed; the answers must not depend on it.
    requests = [
        (CHAT, chat_body()),
        (EMBEDDINGS, {"model": "text-embedding-3-small", "input": "tide", "dimensions": 8}),
        (RESPONSES, {"model": "gpt-4o-mini", "input": "Why is the sea salty?"}),
    ]
    script = (
        "import sys, orjson\n"
        "from halfrate.sandbox.openai.simulate import simulate\n"
        "requests = orjson.loads(sys.stdin.buffer.read())\n"
        "answers = [simulate(url, body, 7).body for url, body in requests]\n"
        "sys.stdout.buffer.write(orjson.dumps(answers))\n"
    )
    there = subprocess.run(
        [sys.executable, "-c", script],
        input=orjson.dumps(requests),
        capture_output=True,
        check=True,
    ).stdout
    here = orjson.dumps([simulate(url, body, 7).body for url, body in requests])
    assert there == here


@pytest.mark.parametrize("cap_param", ["max_tokens", "max_completion_tokens"])
def test_token_cap_cuts_the_answer(cap_param: str) -> None:
    body = simulate(CHAT, chat_body() | {cap_param: 7}, 0).body
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 7
    content = body["choices"][0]["message"]["content"]
    assert count_text("gpt-4o-mini", content).tokens == 7
    assert content.startswith("[halfrate")


def test_several_choices() -> None:
    body = simulate(CHAT, chat_body(n=3), 0).body
    contents = [c["message"]["content"] for c in body["choices"]]
    assert [c["index"] for c in body["choices"]] == [0, 1, 2]
    assert len(set(contents)) > 1
    total = sum(count_text("gpt-4o-mini", c).tokens for c in contents)
    assert body["usage"]["completion_tokens"] == total


def test_answer_length_is_a_few_sentences() -> None:
    lengths = [
        simulate(CHAT, chat_body(f"Tell me about topic number {i}"), 0).output_tokens
        for i in range(50)
    ]
    assert min(lengths) >= 20
    assert max(lengths) <= 120


@pytest.mark.parametrize("model", ["gpt-4o-mini", "gpt-4", "claude-sonnet-4"])
def test_counting_the_parts_equals_counting_the_whole(model: str) -> None:
    # reply() sums cached counts of its parts; that must equal counting the whole text.
    rng = random.Random(3)
    alphabet = (
        "abcdefghijklmnopqrstuvwxyzABCDEF0123456789 .,;:'\"-!?()/\n\t\x1c\xa0\u2028\u0301é漢😀…"
    )
    for i in range(400):
        prompt = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 120)))
        if i % 2:  # short prompts are quoted whole, long ones cut; punctuation first is tricky
            prompt = rng.choice("/:.-'\"#(") + prompt[: rng.randint(0, 30)]
        text, tokens, cut = reply(model, prompt, rng.randbytes(32), None)
        assert not cut
        assert tokens == count_text(model, text).tokens, text


def test_keywords_prefer_topic_words() -> None:
    assert keywords("Name three uses of copper wire.")[0] == "copper"
    assert keywords("") == []


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"messages": [{"role": "user", "content": "x"}]}, "model", "missing_required_parameter"),
        ({"model": "m"}, "messages", "missing_required_parameter"),
        ({"model": "m", "messages": "hi"}, "messages", "invalid_type"),
        ({"model": "m", "messages": []}, "messages", "empty_array"),
        (
            {"model": "m", "messages": [{"role": "robot", "content": "x"}]},
            "messages[0].role",
            "invalid_value",
        ),
        (
            {"model": "m", "messages": [{"role": "user"}]},
            "messages[0].content",
            "missing_required_parameter",
        ),
        (chat_body(max_tokens=0), "max_tokens", "integer_below_min_value"),
        (chat_body(n=0), "n", "integer_below_min_value"),
    ],
)
def test_invalid_chat_bodies_are_400(body: dict[str, Any], param: str, code: str) -> None:
    outcome = simulate(CHAT, body, 0)
    assert outcome.status == 400
    error = outcome.body["error"]
    assert (error["param"], error["code"], error["type"]) == (param, code, "invalid_request_error")
    assert error["message"]


def test_unsimulated_endpoint() -> None:
    outcome = simulate("/v1/images/generations", {"prompt": "x"}, 0)
    assert outcome.status == 400
    expected = "the halfrate sandbox does not simulate /v1/images/generations"
    assert outcome.body["error"]["message"] == expected


def test_embeddings() -> None:
    body = {"model": "text-embedding-3-small", "input": ["alpha", "beta", "alpha"]}
    outcome = simulate(EMBEDDINGS, body, 0)
    data = outcome.body["data"]
    assert [d["index"] for d in data] == [0, 1, 2]
    vectors = [d["embedding"] for d in data]
    assert all(len(v) == 1536 for v in vectors)
    assert all(math.isclose(sum(x * x for x in v), 1.0, rel_tol=1e-6) for v in vectors)
    assert vectors[0] == vectors[2] != vectors[1]  # a text embeds the same wherever it appears
    assert outcome.body["usage"] == {"prompt_tokens": 3, "total_tokens": 3}
    assert outcome.body["model"] == "text-embedding-3-small"

    large = simulate(EMBEDDINGS, {"model": "text-embedding-3-large", "input": "x"}, 0).body
    assert len(large["data"][0]["embedding"]) == 3072
    small = simulate(EMBEDDINGS, {"model": "other", "input": [1, 2, 3], "dimensions": 64}, 0)
    assert len(small.body["data"][0]["embedding"]) == 64
    assert small.body["usage"]["prompt_tokens"] == 3

    packed = simulate(EMBEDDINGS, {**body, "encoding_format": "base64"}, 0).body
    raw = base64.b64decode(packed["data"][0]["embedding"])
    decoded = struct.unpack(f"<{len(raw) // 4}f", raw)
    assert decoded == pytest.approx(vectors[0], abs=1e-6)


@pytest.mark.parametrize(
    "body",
    [
        {"model": "text-embedding-3-small"},
        {"model": "text-embedding-3-small", "input": ""},
        {"model": "text-embedding-3-small", "input": []},
        {"model": "text-embedding-3-small", "input": "x", "dimensions": 2000},
        {"model": "text-embedding-3-small", "input": "x", "encoding_format": "hex"},
    ],
)
def test_invalid_embedding_bodies(body: dict[str, Any]) -> None:
    assert simulate(EMBEDDINGS, body, 0).status == 400


def test_responses() -> None:
    body = {"model": "gpt-4o-mini", "input": "Describe a storm.", "instructions": "Be calm."}
    outcome = simulate(RESPONSES, body, 9)
    answer = outcome.body
    assert answer["id"].startswith("resp_")
    assert (answer["object"], answer["status"], answer["created_at"]) == (
        "response",
        "completed",
        9,
    )
    (message,) = answer["output"]
    assert (message["type"], message["role"]) == ("message", "assistant")
    (part,) = message["content"]
    assert part["type"] == "output_text"
    assert part["text"].startswith(MARKER)
    usage = answer["usage"]
    assert usage["output_tokens"] == count_text("gpt-4o-mini", part["text"]).tokens
    assert usage["input_tokens_details"] == {"cached_tokens": 0}
    assert usage["output_tokens_details"] == {"reasoning_tokens": 0}
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]

    items = [{"role": "user", "content": [{"type": "input_text", "text": "Describe a storm."}]}]
    listed = simulate(RESPONSES, {"model": "gpt-4o-mini", "input": items}, 9)
    assert listed.ok

    capped = simulate(RESPONSES, {**body, "max_output_tokens": 16}, 9).body
    assert capped["status"] == "incomplete"
    assert capped["incomplete_details"] == {"reason": "max_output_tokens"}
    assert capped["usage"]["output_tokens"] == 16

    assert simulate(RESPONSES, {"model": "gpt-4o-mini"}, 9).status == 400
