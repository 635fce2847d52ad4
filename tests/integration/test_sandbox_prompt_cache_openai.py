"""OpenAI's automatic prompt caching in the sandbox, through the real ``openai`` SDK in-process:
chat completions and the Responses API, streamed or not, keys, TTLs and the ledger."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest
from fastapi import FastAPI

from halfrate.sandbox import create_app, openai_client
from halfrate.tokens import count_text

MODEL = "gpt-4o-mini"
T0 = 1_800_000_000.0
SENTENCE = (
    "The lighthouse keeper logs the weather, the tides and every passing ship, hour by hour. "
)
SYSTEM = SENTENCE * 167  # about 3,000 tokens


def tokens(text: str) -> int:
    return count_text(MODEL, text).tokens


# Questions that differ from their first token, so the shared prefix is the system message and
# the framing of the user message: 3 tokens and the role, each time.
SHARED = (3 + tokens("system") + tokens(SYSTEM)) + (3 + tokens("user"))
EXPECTED = SHARED // 128 * 128


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def app(clock: FakeClock) -> FastAPI:
    return create_app(clock=clock)


@pytest.fixture
def client(app: FastAPI) -> Iterator[openai.OpenAI]:
    with openai_client(app) as sdk:
        yield sdk


def ask(client: openai.OpenAI, question: str, system: str = SYSTEM, **extra: Any) -> int:
    """Ask a chat completion; returns its cached tokens."""
    answer = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "system", "content": system}, {"role": "user", "content": question}],
        **extra,
    )
    usage = answer.usage
    assert usage is not None
    assert usage.prompt_tokens_details is not None
    cached = usage.prompt_tokens_details.cached_tokens
    assert cached is not None
    assert 0 <= cached < usage.prompt_tokens  # a part of the prompt, never more
    return int(cached)


def test_the_second_call_reads_the_shared_prefix(client: openai.OpenAI) -> None:
    assert 2900 < tokens(SYSTEM) < 3100
    assert ask(client, "Why is the sea salty?") == 0  # the first call writes
    assert ask(client, "How do tides work?") == EXPECTED >= 1024
    assert EXPECTED == SHARED - SHARED % 128
    assert SHARED - EXPECTED < 128


def test_prompt_cache_key_separates_entries(client: openai.OpenAI) -> None:
    assert ask(client, "Why is the sea salty?", prompt_cache_key="tenant-a") == 0
    assert ask(client, "How do tides work?", prompt_cache_key="tenant-b") == 0
    assert ask(client, "What do keepers eat?", prompt_cache_key="tenant-a") == EXPECTED
    assert ask(client, "When was it built?", prompt_cache_key="tenant-b") == EXPECTED
    assert ask(client, "Who keeps the log?") == 0  # no key is a scope of its own


def test_prompts_below_1024_tokens_are_not_cached(client: openai.OpenAI) -> None:
    short = SENTENCE * 50  # about 900 tokens
    assert ask(client, "Why?", system=short) == 0
    assert ask(client, "Why?", system=short) == 0


def test_entries_expire_after_five_idle_minutes(client: openai.OpenAI, clock: FakeClock) -> None:
    assert ask(client, "Why is the sea salty?") == 0
    clock.now += 299
    assert ask(client, "How do tides work?") == EXPECTED  # and refreshes the entry
    clock.now += 299
    assert ask(client, "What do keepers eat?") == EXPECTED
    clock.now += 300
    assert ask(client, "When was it built?") == 0  # expired: written again
    clock.now += 10
    assert ask(client, "Who keeps the log?") == EXPECTED


def test_24h_retention_keeps_the_prefix_a_day(client: openai.OpenAI, clock: FakeClock) -> None:
    assert ask(client, "Why is the sea salty?", prompt_cache_retention="24h") == 0
    clock.now += 6 * 3600
    assert ask(client, "How do tides work?", prompt_cache_retention="24h") == EXPECTED
    clock.now += 24 * 3600 - 1
    assert ask(client, "What do keepers eat?") == EXPECTED
    clock.now += 24 * 3600
    assert ask(client, "When was it built?") == 0


def test_responses_api_and_streams_report_the_same(client: openai.OpenAI) -> None:
    first = client.responses.create(model=MODEL, instructions=SYSTEM, input="Why is it red?")
    second = client.responses.create(model=MODEL, instructions=SYSTEM, input="How tall is it?")
    assert first.usage is not None
    assert second.usage is not None
    assert first.usage.input_tokens_details.cached_tokens == 0
    # Instructions count as a leading system message, so the prefix is the chat one.
    assert second.usage.input_tokens_details.cached_tokens == EXPECTED

    streamed = client.responses.create(
        model=MODEL, instructions=SYSTEM, input="Where is it?", stream=True
    )
    final = [event for event in streamed if event.type == "response.completed"]
    usage = final[0].response.usage
    assert usage is not None
    assert usage.input_tokens_details.cached_tokens == EXPECTED

    chunks = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Who?"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    usages = [chunk.usage for chunk in chunks if chunk.usage is not None]
    assert len(usages) == 1
    assert usages[0].prompt_tokens_details is not None
    assert usages[0].prompt_tokens_details.cached_tokens == EXPECTED


def test_cache_fields_are_checked(client: openai.OpenAI) -> None:
    quick = client.with_options(max_retries=0)
    with pytest.raises(openai.BadRequestError, match="Supported values"):
        ask(quick, "Why?", prompt_cache_retention="forever")
    with pytest.raises(openai.BadRequestError, match="prompt_cache_key"):
        ask(quick, "Why?", extra_body={"prompt_cache_key": 7})
    assert ask(quick, "Why?", prompt_cache_retention="in_memory") == 0


def test_ledger_records_the_cached_tokens(client: openai.OpenAI, app: FastAPI) -> None:
    figures = [ask(client, question) for question in ("Why?", "How?", "When?")]
    entries = app.state.sandbox.ledger.entries()
    assert [e["cache_read_tokens"] for e in entries] == figures == [0, EXPECTED, EXPECTED]
    assert all(e["cache_write_tokens"] == 0 for e in entries)  # OpenAI bills no writes here
