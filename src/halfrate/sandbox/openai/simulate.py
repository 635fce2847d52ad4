"""Deterministic simulated answers for chat completions, embeddings and responses.

Pure functions: a body and a ``created`` timestamp in, a status and response body out. The same
body gives the same answer byte for byte (ids included) in every process; only ``created`` moves
with the clock, and callers pass it in. Answers are marked as simulated (text starts with
``[halfrate sandbox]``, ``system_fingerprint`` is ``fp_halfrate_sandbox``). A token cap
(``max_tokens``, ``max_completion_tokens``, ``max_output_tokens``) is honoured exactly, even when
it is shorter than the marker itself.

A structured request (``response_format`` / ``text.format``, :mod:`.formats`) is answered with
JSON text that fits its schema (:mod:`halfrate.sandbox.common.schema_answer`), unmarked, as it
must parse; ``broken`` (the ``line_schema_break`` fault) answers JSON that breaks it instead.

The one stateful step, the prompt cache (:mod:`.prompt_cache`), is passed in: with a ``cache``,
a valid chat or Responses request reads and writes it at time ``at`` and reports its cached
tokens; without one (or below 1,024 prompt tokens) ``cached_tokens`` is 0.
"""

from __future__ import annotations

import base64
import hashlib
import math
import struct
from typing import Any, NamedTuple

import orjson

from halfrate.sandbox.common.compose import last_user_text, reply
from halfrate.sandbox.common.jsondata import JSON, body_digest
from halfrate.sandbox.common.schema_answer import structured_reply
from halfrate.sandbox.openai import checks
from halfrate.sandbox.openai.formats import echo
from halfrate.sandbox.openai.prompt_cache import Prompt, PromptCache, bills_writes, measure
from halfrate.sandbox.openai.wire import ApiError, responses_usage
from halfrate.tokens import count_text

FINGERPRINT = "fp_halfrate_sandbox"
_TIERS_ECHOED = ("flex", "priority", "scale")


class Outcome(NamedTuple):
    """What one request produced: HTTP status, response body, and its token usage.

    A named tuple rather than a frozen dataclass: one is built per batch line, and tuples are
    several times cheaper to create.
    """

    status: int
    body: JSON
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0  # the part of input_tokens read from the prompt cache
    cache_write_tokens: int = 0  # the part written to it, on the models that bill writes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def simulate(
    url: str,
    body: JSON,
    created: int,
    *,
    broken: bool = False,
    cache: PromptCache | None = None,
    at: float | None = None,
) -> Outcome:
    """Answer one request to ``url``; invalid bodies give a 400 in OpenAI's error shape.

    ``broken``: a structured answer breaks its schema (a plain one is unaffected). ``cache``:
    the app's prompt cache, used at time ``at`` (``created`` when None)."""
    when = float(created) if at is None else at
    try:
        if url == checks.CHAT:
            return chat_completion(body, created, broken=broken, cache=cache, at=when)
        if url == checks.EMBEDDINGS:
            return embeddings(body)
        if url == checks.RESPONSES:
            return response(body, created, broken=broken, cache=cache, at=when)
        raise checks.unsupported(url)
    except ApiError as exc:
        return Outcome(exc.status, exc.body())


def _variant(seed: bytes, index: int) -> bytes:
    """The seed of choice ``index``; choice 0 uses the body's own seed."""
    if index == 0:
        return seed
    return hashlib.blake2b(seed + index.to_bytes(4, "big"), digest_size=32).digest()


def service_tier(body: JSON) -> str:
    """The tier an answer reports: the one asked for where OpenAI echoes it, else default."""
    tier = body.get("service_tier")
    return tier if tier in _TIERS_ECHOED else "default"


def _answer(
    model: str, topic: str, seed: bytes, cap: int | None, schema: JSON | None, broken: bool
) -> tuple[str, int, bool]:
    """The answer text, its tokens and whether the cap cut it: plain, or fitting ``schema``."""
    if schema is None:
        return reply(model, topic, seed, cap)
    return structured_reply(model, schema, topic, seed, cap, broken=broken)


def chat_completion(
    body: JSON,
    created: int,
    *,
    broken: bool = False,
    cache: PromptCache | None = None,
    at: float = 0.0,
) -> Outcome:
    model, messages, cap, n, schema = checks.check_chat(body)
    seed = body_digest(body)
    prompt = measure(model, messages, body, body.get("response_format"), marked=cache is not None)
    prompt_tokens = prompt.total
    cached, written = _use(cache, prompt, at, model)
    topic = last_user_text(messages)
    choices: list[JSON] = []
    completion_tokens = 0
    for index in range(n):
        text, tokens, cut = _answer(model, topic, _variant(seed, index), cap, schema, broken)
        completion_tokens += tokens
        choices.append(
            {
                "index": index,
                "message": {
                    "role": "assistant",
                    "content": text,
                    "refusal": None,
                    "annotations": [],
                },
                "logprobs": None,
                "finish_reason": "length" if cut else "stop",
            }
        )
    answer = {
        "id": "chatcmpl-" + seed[-15:].hex(),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": _details(model, cached, written, audio_tokens=0),
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": service_tier(body),
        "system_fingerprint": FINGERPRINT,
    }
    return Outcome(200, answer, prompt_tokens, completion_tokens, cached, written)


def unit_vector(seed: bytes, dimensions: int) -> list[float]:
    """A deterministic vector of length 1 drawn from ``seed``."""
    raw = hashlib.shake_256(seed).digest(2 * dimensions)
    ints = struct.unpack(f"<{dimensions}h", raw)
    norm = math.sqrt(sum(v * v for v in ints)) or 1.0
    return [round(v / norm, 9) for v in ints]


def embeddings(body: JSON) -> Outcome:
    model, inputs, dimensions, encoding = checks.check_embeddings(body)
    data: list[JSON] = []
    tokens = 0
    for index, item in enumerate(inputs):
        if isinstance(item, str):
            tokens += count_text(model, item).tokens
            key = item.encode("utf-8", "surrogatepass")
        else:
            tokens += len(item)
            key = orjson.dumps(item)
        # Seeded by the input alone (not the whole body), so a text embeds the same in any request.
        prefix = f"{model}\x00{dimensions}\x00".encode()
        seed = hashlib.blake2b(prefix + key, digest_size=32).digest()
        vector = unit_vector(seed, dimensions)
        embedding: Any = vector
        if encoding == "base64":
            embedding = base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode("ascii")
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    answer = {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    return Outcome(200, answer, tokens, 0)


def response(
    body: JSON,
    created: int,
    *,
    broken: bool = False,
    cache: PromptCache | None = None,
    at: float = 0.0,
) -> Outcome:
    model, items, cap, schema = checks.check_responses(body)
    seed = body_digest(body)
    instructions = body.get("instructions")
    counted = [{"role": "system", "content": instructions}, *items] if instructions else items
    text_format = body.get("text")
    output_format = text_format.get("format") if isinstance(text_format, dict) else None
    prompt = measure(model, counted, body, output_format, marked=cache is not None)
    input_tokens = prompt.total
    cached, written = _use(cache, prompt, at, model)
    text, output_tokens, cut = _answer(model, last_user_text(items), seed, cap, schema, broken)
    status = "incomplete" if cut else "completed"
    answer = {
        "id": "resp_" + seed[-24:].hex(),
        "object": "response",
        "created_at": created,
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if cut else None,
        "instructions": instructions,
        "max_output_tokens": cap,
        "model": model,
        "output": [
            {
                "id": "msg_" + seed[:24].hex(),
                "type": "message",
                "status": status,
                "role": "assistant",
                "content": [
                    {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
                ],
            }
        ],
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": {"effort": None, "summary": None},
        "service_tier": service_tier(body),
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": echo(body),
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools", []),
        "top_p": body.get("top_p", 1.0),
        "truncation": "disabled",
        "usage": responses_usage(input_tokens, output_tokens, cached, written),
        "user": body.get("user"),
        "metadata": body.get("metadata") or {},
    }
    return Outcome(200, answer, input_tokens, output_tokens, cached, written)


def _use(cache: PromptCache | None, prompt: Prompt, at: float, model: str) -> tuple[int, int]:
    """Cached and written tokens; writes count only on the models that bill them."""
    if cache is None:
        return 0, 0
    cached, written = cache.use(prompt, at)
    return cached, written if bills_writes(model) else 0


def _details(model: str, cached: int, written: int, **others: int) -> dict[str, int]:
    details = {"cached_tokens": cached, **others}
    if bills_writes(model):
        details["cache_write_tokens"] = written
    return details
