"""The sandbox's billing ledger: what it charges (succeeded answers and batch lines) and what
it does not (errors, faults, cancelled and expired lines), in Python and over HTTP."""

from __future__ import annotations

import io
from collections import Counter
from typing import Any, Final

import anthropic
import httpx2
import openai
import orjson
import pytest

from halfrate.sandbox import SandboxServer, anthropic_client, create_app, openai_client

T0 = 1_800_000_000.0
CHAT: Final = "/v1/chat/completions"
CLAUDE = "claude-haiku-4-5"
FIELDS = {
    "provider",
    "kind",
    "endpoint",
    "model",
    "service_tier",
    "batch_id",
    "custom_id",
    "status",
    "charged",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "at",
    "fault",
}


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def chat_lines(n: int, bad: int | None = None) -> bytes:
    lines = []
    for i in range(n):
        body: dict[str, Any] = {"model": "gpt-4o-mini"}
        if i != bad:
            body["messages"] = [{"role": "user", "content": f"Question {i}"}]
        lines.append({"custom_id": f"o{i}", "method": "POST", "url": CHAT, "body": body})
    return b"".join(orjson.dumps(line) + b"\n" for line in lines)


def claude(i: int, **extra: Any) -> Any:
    body = {
        "model": CLAUDE,
        "max_tokens": 40,
        "messages": [{"role": "user", "content": f"Question {i}"}],
    }
    return {"custom_id": f"a{i}", "params": body | extra}


def test_what_is_charged_and_what_is_not() -> None:
    clock = FakeClock()
    app = create_app(30.0, clock=clock, cancel_latency=3.0, faults="flex_unavailable=1")
    ledger = app.state.sandbox.ledger
    messages: Any = [{"role": "user", "content": "Hello"}]
    with openai_client(app) as sdk, anthropic_client(app) as claude_sdk:
        oa = sdk.with_options(max_retries=0)
        an = claude_sdk.with_options(max_retries=0)
        chat = oa.chat.completions.create(model="gpt-4o-mini", messages=messages)
        with pytest.raises(openai.BadRequestError):
            oa.chat.completions.create(model="gpt-4o-mini", messages=[])
        with pytest.raises(openai.BadRequestError):
            oa.chat.completions.create(model="gpt-4o", messages=messages, service_tier="flex")
        with pytest.raises(openai.RateLimitError):
            oa.chat.completions.create(model="gpt-5-mini", messages=messages, service_tier="flex")
        message = an.messages.create(model=CLAUDE, max_tokens=30, messages=messages)
        with pytest.raises(anthropic.BadRequestError):
            an.messages.create(model=CLAUDE, max_tokens=0, messages=messages)

        sync = ledger.entries()
        assert [set(entry) for entry in sync] == [FIELDS] * 6
        assert [(e["provider"], e["status"], e["charged"]) for e in sync] == [
            ("openai", 200, True),
            ("openai", 400, False),
            ("openai", 400, False),
            ("openai", 429, False),
            ("anthropic", 200, True),
            ("anthropic", 400, False),
        ]
        assert chat.usage is not None
        first = sync[0]
        assert (first["input_tokens"], first["output_tokens"]) == (
            chat.usage.prompt_tokens,
            chat.usage.completion_tokens,
        )
        assert (first["kind"], first["endpoint"], first["model"]) == ("sync", CHAT, "gpt-4o-mini")
        assert (first["service_tier"], first["at"], first["batch_id"]) == ("default", T0, None)
        assert sync[3]["service_tier"] == "flex"
        assert [e["fault"] for e in sync] == [None, None, None, "flex_unavailable", None, None]
        assert (sync[4]["input_tokens"], sync[4]["output_tokens"]) == (
            message.usage.input_tokens,
            message.usage.output_tokens,
        )
        assert sync[4]["service_tier"] == "standard"
        assert all(e["input_tokens"] == e["output_tokens"] == 0 for e in sync if not e["charged"])

        # OpenAI: a batch with a bad line, and a cancelled one.
        upload = oa.files.create(
            file=("in.jsonl", io.BytesIO(chat_lines(4, bad=2))), purpose="batch"
        )
        done = oa.batches.create(input_file_id=upload.id, endpoint=CHAT, completion_window="24h")
        upload = oa.files.create(file=("in.jsonl", io.BytesIO(chat_lines(10))), purpose="batch")
        stopped = oa.batches.create(input_file_id=upload.id, endpoint=CHAT, completion_window="24h")
        # Anthropic: a batch with an errored request, and a cancelled one.
        ended = an.messages.batches.create(requests=[claude(0), claude(1), claude(2, top_k=3)])
        halted = an.messages.batches.create(requests=[claude(i) for i in range(8)])
        clock.now = T0 + 15  # half-way through both kinds of batch
        oa.batches.cancel(stopped.id)
        an.messages.batches.cancel(halted.id)
        clock.now = T0 + 30
        assert oa.batches.retrieve(done.id).status == "completed"
        assert oa.batches.retrieve(stopped.id).status == "cancelled"
        assert an.messages.batches.retrieve(ended.id).processing_status == "ended"
        assert an.messages.batches.retrieve(halted.id).processing_status == "ended"

    batch = [e for e in ledger.entries() if e["kind"] == "batch"]
    assert all(set(e) == FIELDS for e in batch)
    by_batch = Counter((e["batch_id"], e["status"], e["charged"]) for e in batch)
    assert by_batch == {
        (done.id, 200, True): 3,
        (done.id, 400, False): 1,
        (stopped.id, 200, True): 5,  # the half done when the cancel came
        (stopped.id, "batch_cancelled", False): 5,
        (ended.id, "succeeded", True): 2,
        (ended.id, "errored", False): 1,
        (halted.id, "succeeded", True): 4,
        (halted.id, "canceled", False): 4,
    }
    assert all(e["service_tier"] == "batch" for e in batch)
    charged = [e for e in batch if e["charged"]]
    assert all(e["input_tokens"] > 0 and e["output_tokens"] > 0 for e in charged)
    assert all(e["input_tokens"] == e["output_tokens"] == 0 for e in batch if not e["charged"])
    # The OpenAI output file and the ledger agree on every charged line.
    assert sum(e["input_tokens"] for e in batch if e["batch_id"] == done.id) == (
        oa_usage_input(app, done.id)
    )
    # Lines ran evenly over the in-progress phase; stopped lines are dated when the batch ended.
    anthropic_times = sorted(e["at"] for e in batch if e["batch_id"] == ended.id)
    assert anthropic_times == [T0 + 10, T0 + 20, T0 + 30]
    assert {e["at"] for e in batch if e["status"] == "canceled"} == {T0 + 18}
    endpoints = {e["endpoint"] for e in batch if e["provider"] == "anthropic"}
    assert endpoints == {"/v1/messages/batches"}


def oa_usage_input(app: Any, batch_id: str) -> int:
    batch = app.state.sandbox.get_batch(batch_id)
    return int(batch["usage"]["input_tokens"])


def test_expired_lines_are_not_charged() -> None:
    clock = FakeClock()
    app = create_app(100.0, clock=clock, window=50.0)
    with anthropic_client(app) as client:
        batch = client.messages.batches.create(requests=[claude(i) for i in range(4)])
        clock.now = T0 + 60
        client.messages.batches.retrieve(batch.id)
    kinds = Counter((e["status"], e["charged"]) for e in app.state.sandbox.ledger.entries())
    assert kinds == {("succeeded", True): 2, ("expired", False): 2}


def test_the_http_endpoint_returns_the_same() -> None:
    with SandboxServer(faults="sync_500=1") as server:
        with anthropic_client(server) as client, pytest.raises(anthropic.InternalServerError):
            client.with_options(max_retries=0).messages.create(
                model=CLAUDE, max_tokens=10, messages=[{"role": "user", "content": "hi"}]
            )
        with SandboxServer() as clean, openai_client(clean) as sdk:
            sdk.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
            over_http = httpx2.get(clean.root_url + "/_sandbox/ledger").json()  # no key needed
            assert over_http == {"entries": clean.app.state.sandbox.ledger.entries()}
            (entry,) = over_http["entries"]
            assert (entry["endpoint"], entry["input_tokens"], entry["charged"]) == (
                "/v1/embeddings",
                2,
                True,
            )
        faulted = httpx2.get(server.root_url + "/_sandbox/ledger").json()["entries"]
        assert [(e["status"], e["charged"]) for e in faulted] == [(500, False)]
