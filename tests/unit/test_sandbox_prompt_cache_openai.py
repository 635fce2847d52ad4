"""OpenAI's automatic prompt caching, simulated: the measured prefixes and the per-app cache."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from halfrate.sandbox.common.compose import message_tokens
from halfrate.sandbox.openai.prompt_cache import (
    CACHE_STEP,
    IDLE_SECONDS,
    MIN_CACHED_TOKENS,
    Prompt,
    PromptCache,
    measure,
)
from halfrate.sandbox.openai.simulate import chat_completion
from halfrate.tokens import count_text

MODEL = "gpt-4o-mini"
DOC = "The lighthouse keeper logs the weather, the tides and every passing ship, hour by hour. "
T0 = 1_800_000_000.0


def tokens(text: str, model: str = MODEL) -> int:
    return count_text(model, text).tokens


def floor_step(n: int) -> int:
    return n // CACHE_STEP * CACHE_STEP


def chat(*messages: Any, **extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": list(messages), **extra}


def system(text: str) -> dict[str, str]:
    return {"role": "system", "content": text}


def user(text: Any) -> dict[str, Any]:
    return {"role": "user", "content": text}


def measured(body: dict[str, Any]) -> Prompt:
    output_format = body.get("response_format")
    return measure(body["model"], body["messages"], body, output_format, marked=True)


def cached_after(first: dict[str, Any], second: dict[str, Any]) -> int:
    """What ``second`` reads from a fresh cache that ``first`` wrote."""
    cache = PromptCache()
    assert cache.use(measured(first), T0)[0] == 0  # the first request writes
    return cache.use(measured(second), T0 + 1)[0]


def test_total_is_the_reported_prompt_tokens_and_marks_step_by_128() -> None:
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {}}}]
    body = chat(system(DOC * 100), user("Why?"), tools=tools)
    prompt = measured(body)
    reported = chat_completion(body, 0).body["usage"]["prompt_tokens"]
    assert (
        prompt.total
        == reported
        == message_tokens(MODEL, body["messages"])
        + tokens('[{"type":"function","function":{"name":"lookup","parameters":{}}}]')
    )
    lengths = [length for length, _ in prompt.marks]
    assert lengths[0] == MIN_CACHED_TOKENS
    assert all(b - a == CACHE_STEP for a, b in itertools.pairwise(lengths))
    assert lengths[-1] == floor_step(prompt.total - 3)  # the reply priming is never cached
    assert prompt.idle == IDLE_SECONDS["in_memory"] == 300.0


def test_short_prompts_have_nothing_to_cache() -> None:
    prompt = measured(chat(system(DOC * 50), user("Why?")))  # about 900 tokens
    assert prompt.total < MIN_CACHED_TOKENS
    assert prompt.marks == ()
    assert PromptCache().use(prompt, T0)[0] == 0


def test_shared_leading_messages_are_read_to_the_last_step_mark() -> None:
    first = chat(system(DOC * 167), user("Why is the sea salty?"))
    second = chat(system(DOC * 167), user("How do tides work?"))
    shared = (3 + tokens("system") + tokens(DOC * 167)) + (3 + tokens("user"))
    assert cached_after(first, second) == floor_step(shared) >= 2944
    # The same prompt again reads all of it but what follows the last mark.
    assert cached_after(first, first) == floor_step(measured(first).total - 3)


def test_a_message_is_shared_up_to_where_its_text_parts() -> None:
    question = chat(user(DOC * 100 + "Why is the sea salty?"))
    other = chat(user(DOC * 100 + "How do tides work?"))
    shared = 3 + tokens("user") + tokens(DOC * 100)
    assert shared % CACHE_STEP not in (0, 1, 127)  # not at a mark, where tokens could merge
    assert cached_after(question, other) == floor_step(shared) >= MIN_CACHED_TOKENS


def test_without_a_tokenizer_text_is_cut_four_characters_a_token() -> None:
    model = "sandbox-unknown-model"  # no tiktoken encoding: the approximation
    question = chat(user(DOC * 60 + "Why is the sea salty?"), model=model)
    other = chat(user(DOC * 60 + "How do tides work?"), model=model)
    shared = 3 + tokens("user", model) + len(DOC * 60) // 4
    assert cached_after(question, other) == floor_step(shared) >= MIN_CACHED_TOKENS


def test_content_parts_are_matched_whole() -> None:
    def parts(question: str) -> dict[str, Any]:
        return chat(user([{"type": "text", "text": DOC * 100 + question}]))

    assert cached_after(parts("Why?"), parts("How?")) == 0
    assert cached_after(parts("Why?"), parts("Why?")) == floor_step(
        measured(parts("Why?")).total - 3
    )


@pytest.mark.parametrize(
    "change",
    [
        {"prompt_cache_key": "tenant-b"},
        {"tools": [{"type": "function", "function": {"name": "other", "parameters": {}}}]},
        {"response_format": {"type": "json_object"}},
        {"model": "gpt-4o"},
    ],
)
def test_key_model_tools_and_format_each_scope_the_cache(change: dict[str, Any]) -> None:
    base = chat(system(DOC * 100), user("Why?"), prompt_cache_key="tenant-a")
    assert cached_after(base, base) > 0
    assert cached_after(base, base | change) == 0


def test_idle_ttl_refreshes_on_use_and_24h_retention() -> None:
    body = chat(system(DOC * 100), user("Why?"))
    prompt = measured(body)
    full = prompt.marks[-1][0]
    cache = PromptCache()
    assert cache.use(prompt, T0) == (0, full)  # the first writes the prefix up to its last mark
    assert cache.use(prompt, T0 + 299) == (full, 0)  # a hit refreshes the five minutes
    assert cache.use(prompt, T0 + 598)[0] == full
    assert cache.use(prompt, T0 + 898)[0] == 0  # idle for 300 s: gone, written again
    kept = measured(body | {"prompt_cache_retention": "24h"})
    assert kept.idle == 24 * 3600
    later = T0 + 10_000
    assert cache.use(kept, later)[0] == 0
    assert cache.use(kept, later + 24 * 3600 - 1)[0] == full
    assert cache.use(kept, later + 2 * 24 * 3600)[0] == 0


def test_an_entry_counts_only_from_its_write() -> None:
    # Batch lines are dated when they were scheduled to run, which can be before a call the
    # cache has already seen: that call's entry is not there yet at their time.
    prompt = measured(chat(system(DOC * 100), user("Why?")))
    cache = PromptCache()
    assert cache.use(prompt, T0 + 100)[0] == 0
    assert cache.use(prompt, T0 + 50)[0] == 0
    assert cache.use(prompt, T0 + 60)[0] > 0


def test_the_same_sequence_gives_the_same_figures() -> None:
    policies = [f"Policy {name}. " + DOC * 80 for name in ("North", "South", "West")]
    bodies = [chat(system(policies[i % 3]), user(f"Question {i}")) for i in range(12)]

    def run() -> list[int]:
        cache = PromptCache()
        return [cache.use(measured(body), T0 + i)[0] for i, body in enumerate(bodies)]

    figures = run()
    assert figures == run()
    assert figures[:3] == [0, 0, 0]
    assert all(figures[3:])
