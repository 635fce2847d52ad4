"""The leading parts of a request that a provider's prompt cache can reuse
(docs/prompt-caching.md).

A request body is read as an ordered list of *parts*, in the order the provider builds its
prompt: for Anthropic's Messages, each tool, the system prompt (or each of its blocks), then
each message's content blocks; for OpenAI's Chat Completions, each tool, then each message; for
its Responses, the instructions, each tool, then the input (or each input item). A *boundary*
after the k-th part names everything before it by one digest, which also covers the provider,
endpoint and model (and a caller's own ``prompt_cache_key``): two requests with the same digest
at a boundary share that prefix exactly, so one can write the provider's cache and the other
read it.

Only boundaries before the last part count (the whole request is dedup's business), and for
Anthropic only those whose last part can carry a ``cache_control`` marker. Token counts are
taken only when asked (:meth:`Prompt.tokens_before`), and each distinct part is counted once per
process: a 3,000-token system prompt shared by 100,000 requests is tokenized once.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from halfrate.models import Provider
from halfrate.tokens import count_text

# Both providers cache a prefix from 1,024 tokens on (OpenAI for every model; Anthropic for its
# Sonnet and Opus models, with higher minimums on some: a marker on a shorter prefix is accepted
# and simply not cached, so this is the threshold halfrate uses for both).
MIN_CACHEABLE_TOKENS = 1024
# Framing tokens around each part (a message's role and separators), added to its text's count.
TOKENS_PER_PART = 3
# A request offers at most this many boundaries: the first and last halves of its parts, where
# shared system prompts and shared conversation heads lie; a 500-message request does not cost
# 500 entries.
MAX_BOUNDARIES = 8
DIGEST_BYTES = 8
# Anthropic block types that accept a cache_control marker.
MARKABLE_TYPES = frozenset(
    {"text", "image", "document", "tool_use", "tool_result", "search_result"}
)
# Anthropic bills a cache write at 1.25x the input price for 5 minutes, 2x for an hour, and a
# read at 0.1x (docs/pricing.md#prompt-caching).
ANTHROPIC_WRITE = {"5m": 1.25, "1h": 2.0}
ANTHROPIC_READ = 0.1
_MEMO_LIMIT = 20_000
_MEMO_TEXT_CHARS = 512  # texts from this long have their digest remembered
_memo: dict[tuple[str, bytes], int] = {}  # (model, part digest) -> tokens
# (role, length, Python's hash of a long text) -> part digest: the key holds no text, so the
# memo stays small however long the texts (a 64-bit hash collision would only put a request in
# the wrong prefix group, which costs a cache miss, never a wrong body).
_text_digests: dict[tuple[str, int, int], bytes] = {}
_memo_lock = threading.Lock()

Where = tuple[str, int | None, int | None]  # ("tools"|"system"|"messages"|..., index, block)


@dataclass(frozen=True, slots=True)
class Part:
    where: Where
    value: Any
    digest: bytes  # of the part alone (its role included): the chain and the token memo see it
    size: int  # characters of its text (bytes of its JSON): a bound on its tokens
    marked: bool = False  # holds a cache_control marker of the caller's, at any depth


@dataclass(slots=True)
class Prompt:
    """One request's parts and the digests of its candidate boundaries."""

    model: str
    parts: list[Part]
    boundaries: list[tuple[int, str]]  # (parts before it, digest), shallow to deep
    whole: str  # digest of every part: equal for identical prompts
    own_marks: bool  # the caller placed its own cache markers (or cache key): body stays as sent

    def tokens_before(self, count: int) -> int:
        """About how many prompt tokens the first ``count`` parts hold."""
        return sum(_part_tokens(self.model, part) for part in self.parts[:count])


def read_prompt(
    provider: Provider, endpoint: str, model: str, body: dict[str, Any], min_size: int = 0
) -> Prompt | None:
    """The parts of a request body, or None for an endpoint without a cacheable prompt.
    ``min_size``: offer no boundary before this many characters (and framing tokens), a bound
    below which a prefix cannot hold that many tokens (a token is at least one character)."""
    if provider is Provider.ANTHROPIC:
        if not endpoint.endswith("/messages"):
            return None
        parts = list(_anthropic_parts(body))
        own = "cache_control" in body or any(part.marked for part in parts)
        seed: tuple[Any, ...] = ()
    elif endpoint.endswith("/chat/completions"):
        parts = list(_chat_parts(body))
        own = body.get("prompt_cache_key") is not None
        seed = (body.get("prompt_cache_key"), body.get("response_format"))
    elif endpoint.endswith("/responses"):
        parts = list(_responses_parts(body))
        own = body.get("prompt_cache_key") is not None
        seed = (body.get("prompt_cache_key"), body.get("text"))
    else:
        return None
    hasher = hashlib.blake2b(digest_size=DIGEST_BYTES)
    hasher.update(f"{provider.value}\n{endpoint}\n{model}\n".encode())
    hasher.update(orjson.dumps(seed))
    candidates = _candidate_counts(len(parts))
    boundaries: list[tuple[int, str]] = []
    size = 0
    for number, part in enumerate(parts, start=1):
        hasher.update(part.digest)
        size += part.size + TOKENS_PER_PART
        if size < min_size or number not in candidates:
            continue
        if provider is not Provider.ANTHROPIC or _markable(part):
            boundaries.append((number, hasher.copy().hexdigest()))
    return Prompt(model, parts, boundaries, hasher.hexdigest(), own)


def _candidate_counts(total: int) -> set[int]:
    """The part counts whose boundaries are offered: never the whole request."""
    inner = range(1, total)
    if len(inner) <= MAX_BOUNDARIES:
        return set(inner)
    half = MAX_BOUNDARIES // 2
    return set(inner[:half]) | set(inner[-half:])


def _tool_parts(body: dict[str, Any]) -> Iterator[Part]:
    """Each tool definition: a part of its own, first in every provider's prompt."""
    tools = body.get("tools")
    if isinstance(tools, list):
        for index, tool in enumerate(tools):
            yield _part(("tools", index, None), tool)


def _anthropic_parts(body: dict[str, Any]) -> Iterator[Part]:
    yield from _tool_parts(body)
    system = body.get("system")
    if isinstance(system, str) and system:
        yield _part(("system", None, None), system)
    elif isinstance(system, list):
        for index, block in enumerate(system):
            yield _part(("system", index, None), block)
    messages = body.get("messages")
    if not isinstance(messages, list):
        return
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            continue
        role = str(message.get("role", ""))
        content = message.get("content")
        if isinstance(content, str):
            yield _part(("messages", index, None), content, role)
        elif isinstance(content, list):
            for block_index, block in enumerate(content):
                yield _part(("messages", index, block_index), block, role)


def _chat_parts(body: dict[str, Any]) -> Iterator[Part]:
    yield from _tool_parts(body)
    messages = body.get("messages")
    if isinstance(messages, list):
        for index, message in enumerate(messages):
            yield _part(("messages", index, None), message)


def _responses_parts(body: dict[str, Any]) -> Iterator[Part]:
    instructions = body.get("instructions")
    if isinstance(instructions, str) and instructions:
        yield _part(("instructions", None, None), instructions)
    yield from _tool_parts(body)
    given = body.get("input")
    if isinstance(given, str):
        yield _part(("input", None, None), given)
    elif isinstance(given, list):
        for index, item in enumerate(given):
            yield _part(("input", index, None), item)


def _part(where: Where, value: Any, role: str = "") -> Part:
    if isinstance(value, str) and len(value) >= _MEMO_TEXT_CHARS:
        # A long text (a shared system prompt, a document) recurs across requests: its digest
        # is remembered, so it is encoded and hashed with BLAKE2 once per process.
        key = (role, len(value), hash(value))
        digest = _text_digests.get(key)
        if digest is None:
            digest = _digest(b"s", role, value.encode())
            with _memo_lock:
                if len(_text_digests) >= _MEMO_LIMIT:
                    _text_digests.clear()
                _text_digests[key] = digest
        return Part(where, value, digest, len(value))
    if isinstance(value, str):
        return Part(where, value, _digest(b"s", role, value.encode()), len(value))
    data = orjson.dumps(value)
    # A marker anywhere inside (a tool result's blocks, a document's content): the key appears
    # unescaped in the JSON only as a key, never inside a text.
    marked = b'"cache_control":' in data
    return Part(where, value, _digest(b"j", role, data), len(data), marked)


def _digest(kind: bytes, role: str, data: bytes) -> bytes:
    hasher = hashlib.blake2b(kind, digest_size=16)
    hasher.update(role.encode())
    hasher.update(b"\x1d")
    hasher.update(data)
    return hasher.digest()


def _markable(part: Part) -> bool:
    value = part.value
    if part.where[0] == "tools":
        return isinstance(value, dict)  # a tool definition is an object (else the API refuses it)
    if isinstance(value, str):
        return bool(value)
    if not isinstance(value, dict):
        return False
    return value.get("type") in MARKABLE_TYPES and value.get("text") != ""


def _part_tokens(model: str, part: Part) -> int:
    key = (model, part.digest)
    found = _memo.get(key)
    if found is not None:
        return found
    counted = count_text(model, _text_of(part.value)).tokens + TOKENS_PER_PART
    with _memo_lock:
        if len(_memo) >= _MEMO_LIMIT:
            _memo.clear()  # a fresh start beats tracking recency: misses cost one count
        _memo[key] = counted
    return counted


def _text_of(value: Any) -> str:
    """The text a part contributes to the prompt (JSON for anything that is not text)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        text = value.get("text")
        if isinstance(text, str):
            return text
        content = value.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return "".join(_text_of(item) for item in content)
    return orjson.dumps(value).decode()


def smallest_group(provider: Provider, ttl: str) -> int:
    """How many requests must share a prefix before marking it pays: OpenAI's key costs
    nothing (two suffice); an Anthropic marker pays once one write and the reads cost less than
    the same tokens sent plain: three with the one-hour write a batch needs, two with 5 minutes."""
    if provider is not Provider.ANTHROPIC:
        return 2
    members = 2
    while ANTHROPIC_WRITE[ttl] + ANTHROPIC_READ * (members - 1) >= members:
        members += 1
    return members


def mark_prefix(
    provider: Provider, endpoint: str, body_json: str, prefix_key: str, parts: int, ttl: str
) -> str:
    """The body with its shared prefix marked for the provider's prompt cache: for Anthropic,
    one ``cache_control`` marker (``ttl``) on the prefix's last part; for OpenAI, the group's
    ``prompt_cache_key``. The body as given where the prefix cannot be found in it (it is only
    ever marked where :func:`read_prompt` offered the boundary, so that does not happen)."""
    body = orjson.loads(body_json)
    if provider is Provider.ANTHROPIC:
        found = list(_anthropic_parts(body))
        if not 0 < parts <= len(found) or not _markable(found[parts - 1]):
            return body_json
        _put_marker(body, found[parts - 1].where, {"type": "ephemeral", "ttl": ttl})
    elif body.get("prompt_cache_key") is None:
        body["prompt_cache_key"] = f"halfrate-{prefix_key}"
    return orjson.dumps(body).decode()


def _put_marker(body: dict[str, Any], where: Where, marker: dict[str, str]) -> None:
    kind, index, block = where
    if kind == "tools":
        body["tools"][index]["cache_control"] = marker
    elif kind == "system":
        if index is None:
            body["system"] = [{"type": "text", "text": body["system"], "cache_control": marker}]
        else:
            body["system"][index]["cache_control"] = marker
    else:
        message = body["messages"][index]
        if block is None:
            text = message["content"]
            message["content"] = [{"type": "text", "text": text, "cache_control": marker}]
        else:
            message["content"][block]["cache_control"] = marker
