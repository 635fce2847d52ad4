"""Prompt caching (pure helpers and the per-app cache): the prefix, its buckets, the TTL."""

from __future__ import annotations

from typing import Any

from halfrate.sandbox.anthropic.prompt_cache import (
    MIN_CACHEABLE_TOKENS,
    CacheUse,
    PromptCache,
    measure,
    split,
)
from halfrate.tokens import approximate

MODEL = "claude-haiku-4-5"
LONG = "lighthouse keepers log the weather every hour. " * 100  # 4,800 characters


def params(ttl: str | None = None, system: str = LONG, question: str = "Why?") -> dict[str, Any]:
    control: dict[str, Any] = {"type": "ephemeral"}
    if ttl is not None:
        control["ttl"] = ttl
    return {
        "model": MODEL,
        "max_tokens": 100,
        "system": [{"type": "text", "text": system, "cache_control": control}],
        "messages": [{"role": "user", "content": question}],
    }


def test_token_rule_is_the_labelled_approximation() -> None:
    body = {
        "model": MODEL,
        "max_tokens": 10,
        "system": "Be brief.",
        "messages": [
            {"role": "user", "content": "Hello there"},
            {"role": "assistant", "content": [{"type": "text", "text": "Hi!"}]},
            {"role": "user", "content": [{"type": "image", "source": {}}]},
        ],
    }
    expected = approximate("Be brief.") + 3 + approximate("Hello there") + 3 + 1 + 3 + 85
    assert measure(MODEL, body).total == expected
    assert measure(MODEL, body).key == b""  # nothing marked


def test_prefix_runs_to_the_last_marked_block() -> None:
    body = params("1h")
    prompt = measure(MODEL, body)
    assert prompt.prefix == approximate(LONG) >= MIN_CACHEABLE_TOKENS
    assert prompt.total == prompt.prefix + 3 + approximate("Why?")
    assert prompt.ttl == "1h"
    assert measure(MODEL, params()).ttl == "5m"
    # A different question keeps the prefix; a different system prompt does not.
    assert measure(MODEL, params("1h", question="How?")).key == prompt.key
    assert measure(MODEL, params("1h", system=LONG + "!")).key != prompt.key
    # The marker's TTL is not part of the prefix.
    assert measure(MODEL, params("5m")).key == prompt.key


def test_a_short_prefix_is_not_cached() -> None:
    prompt = measure(MODEL, params(system="short"))
    assert (prompt.prefix, prompt.key) == (0, b"")
    assert split(prompt, False) == CacheUse(prompt.total)


def test_marks_in_tools_and_messages() -> None:
    tool = {"name": "lookup", "description": LONG, "input_schema": {"type": "object"}}
    body = {
        "model": MODEL,
        "max_tokens": 10,
        "tools": [{**tool, "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "type": "text",
                        "text": "context " * 10,
                        "cache_control": {"type": "ephemeral"},
                    },
                    {"type": "text", "text": "question"},
                ],
            }
        ],
    }
    prompt = measure(MODEL, body)
    assert prompt.total - prompt.prefix == approximate("question")


def test_split_into_buckets() -> None:
    prompt = measure(MODEL, params("1h"))
    rest = prompt.total - prompt.prefix
    assert split(prompt, False) == CacheUse(rest, write_1h=prompt.prefix)
    assert split(measure(MODEL, params()), False) == CacheUse(rest, write_5m=prompt.prefix)
    assert split(prompt, True) == CacheUse(rest, read=prompt.prefix)
    assert split(prompt, None) == CacheUse(prompt.total)


def test_write_then_read_then_expire() -> None:
    cache = PromptCache()
    prompt = measure(MODEL, params())  # 5 minutes
    assert cache.use(prompt, 1000.0).write_5m == prompt.prefix
    assert cache.use(prompt, 1200.0).read == prompt.prefix  # refreshes to 1500
    assert cache.use(prompt, 1499.0).read == prompt.prefix  # refreshes to 1799
    assert cache.use(prompt, 1799.0).write_5m == prompt.prefix  # expired: written again
    assert cache.use(prompt, 999.0).write_5m == prompt.prefix  # before the write: not there


def test_one_hour_entries_live_an_hour() -> None:
    cache = PromptCache()
    prompt = measure(MODEL, params("1h"))
    assert cache.use(prompt, 0.0).write_1h == prompt.prefix
    assert cache.use(prompt, 3599.0).read == prompt.prefix
    assert cache.use(prompt, 3599.0 + 3600.0).write_1h == prompt.prefix
