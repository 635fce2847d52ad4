"""Deterministic simulated Claude answers: a Messages body in, a ``Message`` out.

See docs/anthropic-batches.md#results-jsonl.

Pure: the prompt-cache outcome is decided by the caller (it is the one stateful step) and passed
in as a :class:`CacheUse`. The text is :func:`halfrate.sandbox.common.compose.reply`, marked
``[halfrate sandbox]`` and driven by a digest of the body, so the same body gives the same
message (id included) in every process. Output tokens are counted like the input: the labelled
one-token-per-four-characters approximation (see :mod:`halfrate.sandbox.anthropic.prompt_cache`);
``max_tokens`` is honoured exactly, and a cut answer stops with ``max_tokens``.

A structured request (``output_config.format``) is answered with one text block of JSON that
fits its schema (:mod:`halfrate.sandbox.common.schema_answer`), unmarked, as it must parse;
``broken`` (the ``line_schema_break`` fault) gives JSON that breaks the schema instead.
"""

from __future__ import annotations

from typing import NamedTuple

from halfrate.sandbox.anthropic.checks import Checked
from halfrate.sandbox.anthropic.prompt_cache import CacheUse
from halfrate.sandbox.anthropic.wire import derived_id
from halfrate.sandbox.common.compose import last_user_text, reply
from halfrate.sandbox.common.jsondata import JSON, body_digest
from halfrate.sandbox.common.schema_answer import structured_reply

TRANSPORT_FIELDS = frozenset({"stream"})


class Answer(NamedTuple):
    body: JSON  # the Message
    output_tokens: int
    use: CacheUse


def asked(params: JSON) -> JSON:
    """The body without transport fields: streamed or not, the same question, the same answer."""
    if "stream" not in params:
        return params
    return {k: v for k, v in params.items() if k not in TRANSPORT_FIELDS}


def usage(use: CacheUse, output_tokens: int, tier: str) -> JSON:
    """A ``Usage`` object; ``input_tokens`` is the uncached input only.

    See docs/anthropic-batches.md#prompt-caching-in-batches.
    """
    return {
        "input_tokens": use.input_tokens,
        "cache_creation_input_tokens": use.write,
        "cache_read_input_tokens": use.read,
        "cache_creation": {
            "ephemeral_5m_input_tokens": use.write_5m,
            "ephemeral_1h_input_tokens": use.write_1h,
        },
        "output_tokens": output_tokens,
        "service_tier": tier,
    }


def message(
    params: JSON, checked: Checked, use: CacheUse, tier: str, *, broken: bool = False
) -> Answer:
    """The simulated ``Message`` answering ``params`` (already checked, without ``stream``);
    ``broken``: a structured answer breaks its schema (a plain one is unaffected)."""
    seed = body_digest(params)
    topic = last_user_text(checked.messages)
    if checked.schema is None:
        text, output_tokens, cut = reply(checked.model, topic, seed, checked.max_tokens)
    else:
        text, output_tokens, cut = structured_reply(
            checked.model, checked.schema, topic, seed, checked.max_tokens, broken=broken
        )
    body = {
        "id": derived_id("msg_", seed),
        "type": "message",
        "role": "assistant",
        "model": checked.model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "max_tokens" if cut else "end_turn",
        "stop_sequence": None,
        "stop_details": None,  # set by the real API only when a refusal stops the answer
        "usage": usage(use, output_tokens, tier),
    }
    return Answer(body, output_tokens, use)
