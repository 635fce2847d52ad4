"""OpenAI's automatic prompt caching, simulated (docs/openai-batch.md#usage-and-cached-tokens).

OpenAI caches prompt prefixes by itself: a prompt of at least :data:`MIN_CACHED_TOKENS` tokens
can read the longest prefix an earlier request already processed, counted in steps of
:data:`CACHE_STEP` tokens (1024, 1152, 1280, ...). The sandbox does the same, in two parts.

:func:`measure` (pure) counts the prompt with the token rule of
:mod:`halfrate.sandbox.common.compose` (so ``total`` is exactly the ``prompt_tokens`` an answer
reports) and names each cacheable prefix: at every step mark ``B`` (1024, 1152, ...) of the
prompt, a digest of its first ``B`` tokens. The prompt's tokens run in this order: the tool
definitions, then each message in turn (3 tokens of framing and its role, then its content,
then its name and tool calls); the 3 tokens that prime the reply come last and are never
cached. Within a message whose content is a string, the digest follows the content token by
token (tiktoken's tokens, or four characters per token for a model without a tokenizer), so two
prompts that part in the middle of a message share what they have in common up to there. Any
other message (content parts, a bare item) is matched whole. Every digest also covers the model,
the ``prompt_cache_key``, the tools and the output format (``response_format`` or
``text.format``): requests with different keys never share an entry.

:class:`PromptCache` (the one stateful part, per app, on the app clock) answers a prompt with
its cached tokens: the largest mark whose prefix was seen before and is still live, else 0 (a
first request writes, later ones read). Then every mark of the prompt is written or refreshed:
an entry lives :data:`IDLE_SECONDS` after its last use, 5 minutes (the short end of OpenAI's "5
to 10 minutes of inactivity"), or 24 hours for ``prompt_cache_retention: "24h"``.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from array import array
from dataclasses import dataclass
from typing import Any

import orjson

from halfrate.sandbox.common.compose import (
    TOKENS_PER_MESSAGE,
    TOKENS_REPLY_PRIMING,
    json_tokens,
    message_tokens,
    tokens,
)
from halfrate.tokens import COUNT_PIECE_CHARS, encoding_name_for, get_encoding, pieces

MIN_CACHED_TOKENS = 1024
# The 2026 models that bill the tokens they write to the cache (at 1.25x input), and report them
# as ``cache_write_tokens``: gpt-5.6-* and gpt-6* (docs/openai-batch.md). Older models write for
# free and report nothing.
WRITE_BILLING_PREFIXES = ("gpt-5.6", "gpt-6")
CACHE_STEP = 128
IDLE_SECONDS = {"in_memory": 300.0, "24h": 24 * 3600.0}
# Message fields counted after the content (compose's extra tokens); a name counts there too.
_AFTER_CONTENT = frozenset({"content", "tool_calls", "function_call", "output", "arguments"})
_MAX_ENTRIES = 200_000  # above this, expired entries are swept, then the least recently used


@dataclass(frozen=True, slots=True)
class Prompt:
    """The measured input of one chat or Responses request."""

    total: int  # every input token: the prompt_tokens / input_tokens an answer reports
    marks: tuple[tuple[int, bytes], ...] = ()  # (B, digest of the first B tokens), B ascending
    idle: float = IDLE_SECONDS["in_memory"]  # seconds an entry lives after its last use


def _digest(*parts: bytes) -> bytes:
    return hashlib.blake2b(b"\x00".join(parts), digest_size=16).digest()


def _offset(n: int) -> bytes:
    return n.to_bytes(8, "big")


@functools.lru_cache(maxsize=64)
def _token_bytes(model: str, text: str) -> tuple[bytes, int]:
    """``text`` as a byte string that advances ``width`` bytes a token: its tiktoken ids, or
    (without a tokenizer) its characters, four to a token, as :func:`count_text` counts.

    The ids come from the same bundled, offline encoding ``count_text`` counts with (its loader,
    ``get_encoding``): counting alone does not give them."""
    name = encoding_name_for(model)
    if name is not None:
        try:
            encoding = get_encoding(name)
        except Exception:  # counted with the approximation then, so cut with it too
            encoding = None
        if encoding is not None:
            ids = array("I")
            if len(text) <= COUNT_PIECE_CHARS:
                ids.extend(encoding.encode_ordinary(text))
            else:  # in the same pieces as count_text, so the count is the same
                for piece, _ in pieces(text):
                    ids.extend(encoding.encode_ordinary(piece))
            return ids.tobytes(), ids.itemsize
    return text.encode("utf-32-le", "surrogatepass"), 16


class _Marks:
    """Walks a unit of the prompt from token ``at``, taking a digest at each mark it passes
    (the marks up to ``at`` belong to the units before)."""

    def __init__(self, at: int) -> None:
        self.at = at  # tokens walked so far
        self.next = max(MIN_CACHED_TOKENS, (at // CACHE_STEP + 1) * CACHE_STEP)
        self.marks: list[tuple[int, bytes]] = []

    def whole(self, digest: bytes, length: int) -> None:
        """``length`` tokens that only match whole (``digest`` covers all of them)."""
        end = self.at + length
        while self.next <= end:
            self.marks.append((self.next, _digest(digest, _offset(self.next - self.at))))
            self.next += CACHE_STEP
        self.at = end

    def text(self, model: str, base: hashlib.blake2b, text: str, length: int) -> None:
        """``length`` tokens of ``text``, matched token by token after ``base``."""
        end = self.at + length
        if self.next <= end:
            data, width = _token_bytes(model, text)
            view = memoryview(data)
            hasher, fed = base.copy(), 0
            while self.next <= end:
                upto = (self.next - self.at) * width
                hasher.update(view[fed:upto])
                fed = upto
                self.marks.append((self.next, hasher.copy().digest()))
                self.next += CACHE_STEP
        self.at = end


# One message walked: the chain digest with it, the token it ends at, and its marks.
Walked = tuple[bytes, int, tuple[tuple[int, bytes], ...]]


def _message(model: str, chain: bytes, at: int, message: Any) -> Walked:
    """Walk one message that starts at token ``at``, after the prefix ``chain`` names."""
    length = message_tokens(model, [message]) - TOKENS_REPLY_PRIMING
    whole = _digest(chain, orjson.dumps(message, option=orjson.OPT_SORT_KEYS))
    walk = _Marks(at)
    content = message.get("content") if isinstance(message, dict) else None
    role = message.get("role") if isinstance(message, dict) else None
    head = TOKENS_PER_MESSAGE + (tokens(model, role) if isinstance(role, str) else 0)
    body = tokens(model, content) if isinstance(content, str) else 0
    tail = length - head - body  # the name and tool calls
    if not isinstance(content, str) or tail < 0:  # (tail < 0 cannot happen with compose's rule)
        walk.whole(whole, length)
        return whole, walk.at, tuple(walk.marks)
    before = {k: v for k, v in message.items() if k not in _AFTER_CONTENT}
    start = _digest(chain, orjson.dumps(before, option=orjson.OPT_SORT_KEYS))
    walk.whole(start, head)
    walk.text(model, hashlib.blake2b(start, digest_size=16), content, body)
    walk.whole(whole, tail)
    return whole, walk.at, tuple(walk.marks)


@functools.lru_cache(maxsize=256)
def _plain_message(model: str, chain: bytes, at: int, items: tuple[tuple[str, str], ...]) -> Walked:
    """:func:`_message` for a message of strings only, remembered: the lines of a batch repeat
    the same long system message at the same place thousands of times."""
    return _message(model, chain, at, dict(items))


def _walk(model: str, chain: bytes, at: int, message: Any) -> Walked:
    if isinstance(message, dict) and all(v.__class__ is str for v in message.values()):
        return _plain_message(model, chain, at, tuple(message.items()))
    return _message(model, chain, at, message)


def measure(
    model: str, messages: list[Any], body: dict[str, Any], output_format: Any, *, marked: bool
) -> Prompt:
    """Count the prompt of ``messages`` (already checked) and the tools of ``body``, and, when
    ``marked`` and the prompt is long enough to cache, name its prefixes at each step mark."""
    tools = body.get("tools")
    tool_tokens = json_tokens(model, tools) if tools else 0
    total = message_tokens(model, messages) + tool_tokens
    retention = body.get("prompt_cache_retention")
    idle = IDLE_SECONDS["24h" if retention == "24h" else "in_memory"]
    if not marked or total - TOKENS_REPLY_PRIMING < MIN_CACHED_TOKENS:
        return Prompt(total, (), idle)
    scope = [model, body.get("prompt_cache_key"), tools, output_format]
    chain = _digest(orjson.dumps(scope, option=orjson.OPT_SORT_KEYS))
    walk = _Marks(0)
    walk.whole(chain, tool_tokens)
    marks, at = walk.marks, walk.at
    for message in messages:
        chain, at, walked = _walk(model, chain, at, message)
        marks.extend(walked)
    return Prompt(total, tuple(marks), idle)


def bills_writes(model: str) -> bool:
    return model.startswith(WRITE_BILLING_PREFIXES)


class PromptCache:
    """The prefixes one sandbox app has cached, each live from its write until it has been idle
    for its TTL.

    Thread-safe. Times are the app clock's; batch lines use the time they are scheduled to run,
    which may be earlier than a synchronous call already seen, so an entry only counts for times
    at or after its write (each entry keeps one span, from its first write to its expiry).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # digest -> (written at, expires at); in order of last use, oldest first
        self._entries: dict[bytes, tuple[float, float]] = {}

    def use(self, prompt: Prompt, at: float) -> tuple[int, int]:
        """The prompt's cached tokens at time ``at``, and the tokens it writes beyond them (up to
        its largest mark); then writes or refreshes all its marks."""
        if not prompt.marks:
            return 0, 0
        cached = 0
        with self._lock:
            entries = self._entries
            for length, digest in reversed(prompt.marks):
                entry = entries.get(digest)
                if entry is not None and entry[0] <= at < entry[1]:
                    cached = length
                    break
            expires = at + prompt.idle
            for _, digest in prompt.marks:
                entry = entries.pop(digest, None)
                if entry is None or at >= entry[1]:
                    entries[digest] = (at, expires)
                else:
                    entries[digest] = (min(entry[0], at), max(entry[1], expires))
            if len(entries) > _MAX_ENTRIES:
                self._sweep(at)
        return cached, max(0, prompt.marks[-1][0] - cached)

    def _sweep(self, at: float) -> None:
        """Drop expired entries, then the least recently used down to three quarters full."""
        entries = {k: v for k, v in self._entries.items() if v[1] > at}
        excess = len(entries) - _MAX_ENTRIES * 3 // 4
        if excess > 0:
            for key in list(entries)[:excess]:
                del entries[key]
        self._entries = entries
