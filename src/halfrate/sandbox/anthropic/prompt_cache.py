"""Anthropic prompt caching, simulated (docs/anthropic-batches.md#prompt-caching-in-batches).

A request marks a cacheable prefix by putting ``cache_control: {"type": "ephemeral"[, "ttl":
"5m"|"1h"]}`` on blocks of ``tools``, ``system`` or ``messages`` (in that order). The prefix runs
up to and including the *last* marked block. If it has at least :data:`MIN_CACHEABLE_TOKENS`
tokens, the first request with that prefix writes it to the cache (its tokens are reported as
``cache_creation_input_tokens``, in the 5m or 1h bucket), and later requests within the TTL read
it (``cache_read_input_tokens``; a read refreshes the TTL). ``input_tokens`` is then only the
uncached rest. Simplification: only the last breakpoint is looked up (the real API also tries
earlier ones).

Token rule (Claude has no offline tokenizer, so this is the labelled approximation of
:func:`halfrate.tokens.count_text`, one token per four characters of each text): the prompt is
the sum of its units: each tool (the tokens of its JSON), each system text, and each message
(3 tokens of framing, plus each content block: the text of a text or thinking block, the name
and input JSON of a tool_use, the content of a tool_result, a flat 85 for an image or a
document that is not plain text).

:func:`measure` is pure; :class:`PromptCache` is the one stateful part, per app, on the app clock.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from halfrate.sandbox.common.compose import (
    TOKENS_PER_MESSAGE,
    TOKENS_PER_OTHER_PART,
    json_tokens,
    tokens,
)

MIN_CACHEABLE_TOKENS = 1024
TTL_SECONDS = {"5m": 300.0, "1h": 3600.0}
DEFAULT_TTL = "5m"
_PRUNE_AT = 10_000  # entries kept before expired ones are swept out


@dataclass(frozen=True, slots=True)
class Prompt:
    """The measured input of one Messages request."""

    total: int  # every input token
    prefix: int = 0  # tokens of the cacheable prefix (0 when nothing is marked or too short)
    ttl: str = DEFAULT_TTL  # the TTL of the last marked block
    key: bytes = b""  # identifies the prefix (model included); empty when not cacheable


class CacheUse(NamedTuple):
    """How a request's input splits: uncached, read from the cache, written (by TTL bucket)."""

    input_tokens: int
    read: int = 0
    write_5m: int = 0
    write_1h: int = 0

    @property
    def write(self) -> int:
        return self.write_5m + self.write_1h


def block_tokens(model: str, block: Any) -> int:
    """Tokens of one content block, per the module rule."""
    if isinstance(block, str):
        return tokens(model, block)
    if not isinstance(block, dict):
        return TOKENS_PER_OTHER_PART
    kind = block.get("type")
    if kind == "text":
        text = block.get("text")
        return tokens(model, text) if isinstance(text, str) else 0
    if kind == "thinking":
        text = block.get("thinking")
        return tokens(model, text) if isinstance(text, str) else 0
    if kind == "tool_use":
        return tokens(model, str(block.get("name", ""))) + json_tokens(model, block.get("input"))
    if kind == "tool_result":
        content = block.get("content")
        if isinstance(content, list):
            return sum(block_tokens(model, part) for part in content)
        return tokens(model, content) if isinstance(content, str) else 0
    source = block.get("source")
    if kind == "document" and isinstance(source, dict) and source.get("type") == "text":
        data = source.get("data")
        return tokens(model, data) if isinstance(data, str) else 0
    return TOKENS_PER_OTHER_PART


def _units(model: str, params: dict[str, Any]) -> list[tuple[int, Any]]:
    """The prompt's units in cache order: (tokens, the block, or None for message framing)."""
    units: list[tuple[int, Any]] = []
    for tool in params.get("tools") or ():
        units.append((json_tokens(model, _unmarked(tool)), tool))
    system = params.get("system")
    if isinstance(system, str):
        units.append((tokens(model, system), system))
    elif isinstance(system, list):
        units.extend((block_tokens(model, block), block) for block in system)
    for message in params.get("messages") or ():
        units.append((TOKENS_PER_MESSAGE, None))
        content = message.get("content")
        if isinstance(content, list):
            units.extend((block_tokens(model, block), block) for block in content)
        else:
            units.append((block_tokens(model, content), content))
    return units


def _unmarked(block: Any) -> Any:
    if isinstance(block, dict) and "cache_control" in block:
        return {k: v for k, v in block.items() if k != "cache_control"}
    return block


def _mark(block: Any) -> str | None:
    """The TTL a block's ``cache_control`` asks for, or None when it has none."""
    if not isinstance(block, dict):
        return None
    control = block.get("cache_control")
    if not isinstance(control, dict):
        return None
    ttl = control.get("ttl")
    return ttl if ttl in TTL_SECONDS else DEFAULT_TTL


def measure(model: str, params: dict[str, Any]) -> Prompt:
    """Count the input of ``params`` and find its cacheable prefix (params already checked)."""
    units = _units(model, params)
    total = sum(count for count, _ in units)
    last = -1
    ttl = DEFAULT_TTL
    for index, (_, block) in enumerate(units):
        marked = _mark(block)
        if marked is not None:
            last, ttl = index, marked
    if last < 0:
        return Prompt(total)
    prefix = sum(count for count, _ in units[: last + 1])
    if prefix < MIN_CACHEABLE_TOKENS:
        return Prompt(total)
    # Framing units stand for their message's role, so "user" and "assistant" turns differ.
    roles = [m.get("role") for m in params.get("messages") or ()]
    shape = [model, roles, [_unmarked(block) for _, block in units[: last + 1]]]
    key = hashlib.blake2b(orjson.dumps(shape, option=orjson.OPT_SORT_KEYS), digest_size=16)
    return Prompt(total, prefix, ttl, key.digest())


def split(prompt: Prompt, hit: bool | None) -> CacheUse:
    """The usage split for a cache ``hit`` (True), a write (False), or no caching (None)."""
    if hit is None or not prompt.key:
        return CacheUse(prompt.total)
    rest = prompt.total - prompt.prefix
    if hit:
        return CacheUse(rest, read=prompt.prefix)
    if prompt.ttl == "1h":
        return CacheUse(rest, write_1h=prompt.prefix)
    return CacheUse(rest, write_5m=prompt.prefix)


class PromptCache:
    """The prefixes one sandbox app has cached, each live from its write until its TTL passes.

    Thread-safe. Times are the app clock's; batch lines use the time they are scheduled to run,
    which may be earlier than a synchronous call already seen, so an entry only counts for
    times at or after its write.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[bytes, tuple[float, float]] = {}  # key -> (written at, expires at)

    def use(self, prompt: Prompt, at: float) -> CacheUse:
        """Look the prompt's prefix up at time ``at``: read (and refresh) it, or write it."""
        if not prompt.key:
            return CacheUse(prompt.total)
        lifetime = TTL_SECONDS[prompt.ttl]
        with self._lock:
            entry = self._entries.get(prompt.key)
            if entry is not None and entry[0] <= at < entry[1]:
                self._entries[prompt.key] = (entry[0], max(entry[1], at + lifetime))
                return split(prompt, True)
            if len(self._entries) >= _PRUNE_AT:
                self._entries = {k: v for k, v in self._entries.items() if v[1] > at}
            self._entries[prompt.key] = (at, at + lifetime)
        return split(prompt, False)
