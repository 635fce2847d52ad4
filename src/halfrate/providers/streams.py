"""Adding streamed answers back up into the objects an unstreamed call returns, and timing them.

Pure functions over the events' JSON (as the SDKs decode them from server-sent events): a
realtime call is streamed only to measure time to first token (TTFT) and time between tokens
(TIBT); what halfrate stores is the same answer object a batch line or an unstreamed call holds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

JSON = dict[str, Any]


@dataclass
class Timing:
    """When a call started, and when each piece of its answer arrived."""

    clock: Callable[[], float] = time.perf_counter
    started: float = 0.0
    first: float | None = None
    last: float | None = None
    gaps: int = 0  # pieces after the first

    def __post_init__(self) -> None:
        self.started = self.clock()

    def token(self) -> None:
        now = self.clock()
        if self.first is None:
            self.first = now
        else:
            self.gaps += 1
        self.last = now

    @property
    def ttft(self) -> float | None:
        return None if self.first is None else self.first - self.started

    @property
    def tibt(self) -> float | None:
        """The mean time between pieces of the answer (None with fewer than two pieces)."""
        if self.first is None or self.last is None or self.gaps == 0:
            return None
        return (self.last - self.first) / self.gaps

    def elapsed(self) -> float:
        return self.clock() - self.started


class StreamFailed(Exception):
    """The stream said the answer failed, or ended before the answer was complete."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# -- OpenAI chat completions ----------------------------------------------------------------


@dataclass
class _Choice:
    index: int
    role: str = "assistant"
    content: list[str] = field(default_factory=list)
    refusal: list[str] = field(default_factory=list)
    tool_calls: dict[int, JSON] = field(default_factory=dict)
    finish_reason: str | None = None
    logprobs: JSON | None = None

    def add(self, delta: JSON) -> bool:
        """Merge one delta; True when it carried part of the answer."""
        carried = False
        if delta.get("role"):
            self.role = delta["role"]
        if delta.get("content"):
            self.content.append(delta["content"])
            carried = True
        if delta.get("refusal"):
            self.refusal.append(delta["refusal"])
            carried = True
        for call in delta.get("tool_calls") or ():
            carried = True
            merged = self.tool_calls.setdefault(
                call.get("index", 0), {"id": None, "type": "function", "function": {}}
            )
            if call.get("id"):
                merged["id"] = call["id"]
            if call.get("type"):
                merged["type"] = call["type"]
            function = call.get("function") or {}
            target = merged["function"]
            for key in ("name", "arguments"):
                if function.get(key):
                    target[key] = target.get(key, "") + function[key]
        return carried

    def add_logprobs(self, logprobs: JSON | None) -> None:
        if not logprobs:
            return
        if self.logprobs is None:
            self.logprobs = {"content": None, "refusal": None}
        for key in ("content", "refusal"):
            if logprobs.get(key):
                self.logprobs[key] = (self.logprobs.get(key) or []) + logprobs[key]

    def to_json(self) -> JSON:
        message: JSON = {
            "role": self.role,
            "content": "".join(self.content) if self.content else None,
            "refusal": "".join(self.refusal) if self.refusal else None,
        }
        if self.tool_calls:
            calls = []
            for _, call in sorted(self.tool_calls.items()):
                call["function"].setdefault("arguments", "")
                calls.append(call)
            message["tool_calls"] = calls
        return {
            "index": self.index,
            "message": message,
            "logprobs": self.logprobs,
            "finish_reason": self.finish_reason,
        }


def chat_completion(chunks: Iterable[JSON], timing: Timing) -> JSON:
    """The ``chat.completion`` a stream of ``chat.completion.chunk`` events adds up to."""
    head: JSON | None = None
    choices: dict[int, _Choice] = {}
    usage: JSON | None = None
    for chunk in chunks:
        if head is None:
            head = chunk
        if chunk.get("usage"):
            usage = chunk["usage"]
        carried = False
        for part in chunk.get("choices") or ():
            choice = choices.setdefault(part.get("index", 0), _Choice(part.get("index", 0)))
            carried = choice.add(part.get("delta") or {}) or carried
            choice.add_logprobs(part.get("logprobs"))
            if part.get("finish_reason"):
                choice.finish_reason = part["finish_reason"]
        if carried:
            timing.token()
    if head is None or not choices or any(c.finish_reason is None for c in choices.values()):
        raise StreamFailed("incomplete_stream", "the stream ended before the answer was complete")
    answer: JSON = {
        "id": head.get("id"),
        "object": "chat.completion",
        "created": head.get("created"),
        "model": head.get("model"),
        "choices": [c.to_json() for _, c in sorted(choices.items())],
        "usage": usage,
    }
    for key in ("system_fingerprint", "service_tier"):
        if head.get(key) is not None:
            answer[key] = head[key]
    return answer


# -- OpenAI Responses -----------------------------------------------------------------------

_RESPONSE_DONE = ("response.completed", "response.incomplete")


def response_object(events: Iterable[JSON], timing: Timing) -> JSON:
    """The response object a Responses API event stream ends with."""
    for event in events:
        kind = str(event.get("type") or "")
        if kind.endswith(".delta"):
            timing.token()
        elif kind in _RESPONSE_DONE:
            response: JSON = event["response"]
            return response
        elif kind == "response.failed":
            error = (event.get("response") or {}).get("error") or {}
            raise StreamFailed(str(error.get("code") or "failed"), str(error.get("message") or ""))
        elif kind == "error":
            raise StreamFailed(str(event.get("code") or "error"), str(event.get("message") or ""))
    raise StreamFailed("incomplete_stream", "the stream ended before the response completed")


# -- Anthropic Messages ---------------------------------------------------------------------


def message_object(events: Iterable[JSON], timing: Timing) -> JSON:
    """The ``Message`` an Anthropic Messages event stream adds up to."""
    message: JSON | None = None
    blocks: dict[int, JSON] = {}
    partial_json: dict[int, list[str]] = {}
    for event in events:
        kind = event.get("type")
        if kind == "message_start":
            message = dict(event["message"])
        elif kind == "content_block_start":
            blocks[event["index"]] = dict(event["content_block"])
        elif kind == "content_block_delta":
            timing.token()
            _merge_block(blocks, partial_json, event["index"], event["delta"])
        elif kind == "content_block_stop":
            pieces = partial_json.pop(event["index"], None)
            if pieces is not None:
                text = "".join(pieces)
                blocks[event["index"]]["input"] = orjson.loads(text) if text else {}
        elif kind == "message_delta" and message is not None:
            message.update(event.get("delta") or {})
            update = {k: v for k, v in (event.get("usage") or {}).items() if v is not None}
            message["usage"] = {**(message.get("usage") or {}), **update}
        elif kind == "message_stop":
            if message is None:
                break
            message["content"] = [block for _, block in sorted(blocks.items())]
            return message
        elif kind == "error":
            error = event.get("error") or {}
            raise StreamFailed(str(error.get("type") or "error"), str(error.get("message") or ""))
    raise StreamFailed("incomplete_stream", "the stream ended before the message was complete")


def _merge_block(
    blocks: dict[int, JSON], partial_json: dict[int, list[str]], index: int, delta: JSON
) -> None:
    block = blocks.setdefault(index, {"type": "text", "text": ""})
    kind = delta.get("type")
    if kind == "text_delta":
        block["text"] = block.get("text", "") + delta.get("text", "")
    elif kind == "input_json_delta":
        partial_json.setdefault(index, []).append(delta.get("partial_json", ""))
    elif kind == "thinking_delta":
        block["thinking"] = block.get("thinking", "") + delta.get("thinking", "")
    elif kind == "signature_delta":
        block["signature"] = delta.get("signature")
    elif kind == "citations_delta":
        block.setdefault("citations", []).append(delta.get("citation"))
