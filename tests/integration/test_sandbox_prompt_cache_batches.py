"""Prompt caching inside batches, through the real SDKs in-process: the lines of an OpenAI batch
and of an Anthropic Message Batch run in order, each reading what earlier lines (or earlier
requests) wrote, and the results, the batch's usage and the ledger say so."""

from __future__ import annotations

import io
from typing import Any, Final

import orjson
from fastapi import FastAPI

from halfrate.sandbox import anthropic_client, create_app, openai_client
from halfrate.tokens import count_text
from tests.integration.test_sandbox_prompt_cache_openai import SYSTEM, FakeClock

CHAT: Final = "/v1/chat/completions"
GPT = "gpt-4o-mini"
CLAUDE = "claude-haiku-4-5"
QUESTIONS = ("Why is the sea salty?", "How do tides work?", "What do keepers eat?", "When?", "Who?")
# The questions differ from their first token: the shared prefix is the system message and the
# framing of the user message.
SHARED = 3 + count_text(GPT, "system").tokens + count_text(GPT, SYSTEM).tokens + 3 + 1
EXPECTED = SHARED // 128 * 128


def openai_batch(app: FastAPI, clock: FakeClock | None = None) -> list[dict[str, Any]]:
    """Run a batch of one line per question through the SDK; its output lines, in the order
    they ran (the output file's order). The batch's usage adds up their cached tokens."""
    lines = [
        {
            "custom_id": f"q{i}",
            "method": "POST",
            "url": CHAT,
            "body": {
                "model": GPT,
                "messages": [
                    {"role": "system", "content": SYSTEM},
                    {"role": "user", "content": question},
                ],
            },
        }
        for i, question in enumerate(QUESTIONS)
    ]
    data = b"".join(orjson.dumps(line) + b"\n" for line in lines)
    with openai_client(app) as client:
        file_id = client.files.create(file=("in.jsonl", io.BytesIO(data)), purpose="batch").id
        batch = client.batches.create(input_file_id=file_id, endpoint=CHAT, completion_window="24h")
        if clock is not None:
            clock.now += 60  # past the 30 s the batch takes
        done = client.batches.retrieve(batch.id)
        assert done.status == "completed"
        assert done.output_file_id is not None
        output = client.files.content(done.output_file_id).read()
        assert done.usage is not None
        usage = done.usage
    results = [orjson.loads(line) for line in output.splitlines()]
    assert len(results) == len(QUESTIONS)
    assert usage.input_tokens_details.cached_tokens == sum(cached_of(results))
    return results


def cached_of(results: list[dict[str, Any]]) -> list[int]:
    return [
        r["response"]["body"]["usage"]["prompt_tokens_details"]["cached_tokens"] for r in results
    ]


def test_openai_batch_lines_read_what_earlier_lines_wrote() -> None:
    app = create_app()
    results = openai_batch(app)
    assert cached_of(results) == [0, EXPECTED, EXPECTED, EXPECTED, EXPECTED]
    rows = {e["custom_id"]: e for e in app.state.sandbox.ledger.entries()}
    for result in results:
        usage = result["response"]["body"]["usage"]
        row = rows[result["custom_id"]]
        assert row["cache_read_tokens"] == usage["prompt_tokens_details"]["cached_tokens"]
        assert row["input_tokens"] == usage["prompt_tokens"]  # the whole prompt, cached included


def test_openai_batch_reads_an_earlier_call_within_its_ttl() -> None:
    clock = FakeClock()
    app = create_app(30.0, clock=clock)  # lines run over 10 s of in_progress, 2 s apart
    with openai_client(app) as client:
        client.chat.completions.create(
            model=GPT,
            messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Hi"}],
        )
    assert cached_of(openai_batch(app, clock)) == [EXPECTED] * 5
    clock.now += 600  # idle past the TTL: the next batch's first line writes again
    assert cached_of(openai_batch(app, clock)) == [0] + [EXPECTED] * 4


def test_the_same_requests_give_the_same_figures() -> None:
    figures = [cached_of(openai_batch(create_app())) for _ in range(2)]
    assert figures[0] == figures[1]


def claude_requests(n: int) -> Any:
    system = [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
    return [
        {
            "custom_id": f"c{i}",
            "params": {
                "model": CLAUDE,
                "max_tokens": 40,
                "system": system,
                "messages": [{"role": "user", "content": f"Question {i}: why is the sea salty?"}],
            },
        }
        for i in range(n)
    ]


def test_anthropic_batch_first_line_writes_later_lines_read() -> None:
    app = create_app()
    with anthropic_client(app) as client:
        batch = client.messages.batches.create(requests=claude_requests(5))
        client.messages.batches.retrieve(batch.id)  # latency 0: the first read ends it
        lines = list(client.messages.batches.results(batch.id))  # in the order they ran
    usages = []
    for line in lines:
        assert line.result.type == "succeeded"
        usages.append(line.result.message.usage)
    first, rest = usages[0], usages[1:]
    prefix = first.cache_creation_input_tokens
    assert prefix is not None
    assert prefix >= 1024
    assert first.cache_read_input_tokens == 0
    assert first.cache_creation is not None
    assert first.cache_creation.ephemeral_1h_input_tokens == prefix
    assert first.cache_creation.ephemeral_5m_input_tokens == 0
    for usage in rest:
        assert (usage.cache_read_input_tokens, usage.cache_creation_input_tokens) == (prefix, 0)
        assert usage.input_tokens == first.input_tokens  # only the uncached rest
    rows = [e for e in app.state.sandbox.ledger.entries() if e["kind"] == "batch"]
    assert [(r["cache_write_tokens"], r["cache_read_tokens"]) for r in rows] == [(prefix, 0)] + [
        (0, prefix)
    ] * 4


def test_anthropic_batch_reads_an_earlier_message() -> None:
    app = create_app()
    requests = claude_requests(3)
    with anthropic_client(app) as client:
        written = client.messages.create(**requests[0]["params"]).usage
        assert written.cache_creation_input_tokens
        batch = client.messages.batches.create(requests=requests)
        client.messages.batches.retrieve(batch.id)
        reads = []
        for line in client.messages.batches.results(batch.id):
            assert line.result.type == "succeeded"
            reads.append(line.result.message.usage.cache_read_input_tokens)
    assert reads == [written.cache_creation_input_tokens] * 3
