"""The real ``anthropic`` SDK against the sandbox, in-process and over loopback (no mocks)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import anthropic
import pytest
from anthropic.types import MessageParam
from anthropic.types.messages import MessageBatch, MessageBatchIndividualResponse

from halfrate.sandbox import SandboxServer, anthropic_client, create_app

MODEL = "claude-haiku-4-5"
T0 = 1_800_000_000.0
MESSAGES: list[MessageParam] = [{"role": "user", "content": "How do lighthouses work at night?"}]
LONG = "Lighthouse keepers log the weather, the lamp and every ship they see. " * 70


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def params(i: int, **extra: Any) -> dict[str, Any]:
    body = {
        "model": MODEL,
        "max_tokens": 64,
        "messages": [{"role": "user", "content": f"Question {i}: why is the sea salty?"}],
    }
    return body | extra


def requests(n: int, **extra: Any) -> Any:
    return [{"custom_id": f"req-{i}", "params": params(i, **extra)} for i in range(n)]


def results(
    client: anthropic.Anthropic, batch_id: str
) -> dict[str, MessageBatchIndividualResponse]:
    return {line.custom_id: line for line in client.messages.batches.results(batch_id)}


def counts(batch: MessageBatch) -> dict[str, int]:
    return batch.request_counts.model_dump()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(clock: FakeClock) -> Iterator[anthropic.Anthropic]:
    """Batches take 100 s of fake time; a cancel takes 10 s."""
    with anthropic_client(create_app(100.0, clock=clock, cancel_latency=10.0)) as sdk:
        yield sdk


def test_sync_message(client: anthropic.Anthropic) -> None:
    message = client.messages.create(model=MODEL, max_tokens=200, messages=MESSAGES)
    assert message.id.startswith("msg_01")
    assert (message.type, message.role, message.model) == ("message", "assistant", MODEL)
    assert message.stop_reason == "end_turn"
    assert message.stop_sequence is None
    (block,) = message.content
    assert block.type == "text"
    assert block.text.startswith("[halfrate sandbox]")
    assert "lighthouses" in block.text
    usage = message.usage
    assert usage.service_tier == "standard"
    assert usage.input_tokens > 0
    assert (usage.cache_creation_input_tokens, usage.cache_read_input_tokens) == (0, 0)
    assert usage.cache_creation is not None
    assert usage.cache_creation.ephemeral_5m_input_tokens == 0
    again = client.messages.create(model=MODEL, max_tokens=200, messages=MESSAGES)
    assert again == message  # deterministic, id included

    short = client.messages.create(model=MODEL, max_tokens=5, messages=MESSAGES)
    assert short.stop_reason == "max_tokens"
    assert short.usage.output_tokens == 5

    counted = client.messages.count_tokens(model=MODEL, messages=MESSAGES)
    assert counted.input_tokens == usage.input_tokens


def test_streaming_equals_unstreamed(client: anthropic.Anthropic) -> None:
    for max_tokens in (300, 7):
        whole = client.messages.create(model=MODEL, max_tokens=max_tokens, messages=MESSAGES)
        with client.messages.stream(
            model=MODEL, max_tokens=max_tokens, messages=MESSAGES
        ) as stream:
            pieces = [text for text in stream.text_stream]
            final = stream.get_final_message()
        assert final.model_dump() == whole.model_dump()
        assert len(pieces) > 1
        (block,) = whole.content
        assert block.type == "text"
        assert "".join(pieces) == block.text
    raw = client.messages.create(model=MODEL, max_tokens=20, messages=MESSAGES, stream=True)
    kinds = [event.type for event in raw]
    assert kinds[:2] == ["message_start", "content_block_start"]
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]


def test_version_2026_refuses_temperature(client: anthropic.Anthropic) -> None:
    # SDK 2.12 has no temperature argument any more (it sends 2026-10-21): add it by hand.
    hot = {"temperature": 0.5}
    with pytest.raises(anthropic.BadRequestError, match="temperature") as caught:
        client.messages.create(model=MODEL, max_tokens=10, messages=MESSAGES, extra_body=hot)
    body: Any = caught.value.body
    assert body["error"]["type"] == "invalid_request_error"
    old = client.messages.create(
        model=MODEL,
        max_tokens=10,
        messages=MESSAGES,
        extra_body=hot,
        extra_headers={"anthropic-version": "2023-06-01"},
    )
    assert old.stop_reason == "max_tokens"


def test_errors_map_to_sdk_exceptions(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError, match="model: gpt-4o"):
        client.messages.create(model="gpt-4o", max_tokens=10, messages=MESSAGES)
    with pytest.raises(anthropic.BadRequestError, match="at least one message"):
        client.messages.create(model=MODEL, max_tokens=10, messages=[])
    with pytest.raises(anthropic.NotFoundError):
        client.messages.batches.retrieve("msgbatch_nope")


def test_batch_succeeded_and_errored(client: anthropic.Anthropic, clock: FakeClock) -> None:
    bad: Any = [
        {"custom_id": "no-max-tokens", "params": {"model": MODEL, "messages": MESSAGES}},
        {"custom_id": "streamed", "params": params(98, stream=True)},
        {"custom_id": "hot", "params": params(99, temperature=0.5)},  # refused under 2026-10-21
    ]
    batch = client.messages.batches.create(requests=[*requests(5), *bad])
    assert batch.id.startswith("msgbatch_")
    assert batch.processing_status == "in_progress"
    assert batch.created_at == datetime.fromtimestamp(T0, UTC)
    assert batch.expires_at == datetime.fromtimestamp(T0 + 86_400, UTC)
    assert (batch.ended_at, batch.results_url, batch.cancel_initiated_at) == (None, None, None)
    for elapsed in (0, 50, 99.9):
        clock.now = T0 + elapsed
        running = client.messages.batches.retrieve(batch.id)
        assert running.processing_status == "in_progress"
        assert counts(running) == {
            "processing": 8,
            "succeeded": 0,
            "errored": 0,
            "canceled": 0,
            "expired": 0,
        }
    clock.now = T0 + 150
    done = client.messages.batches.retrieve(batch.id)
    assert done.processing_status == "ended"
    assert done.ended_at == datetime.fromtimestamp(T0 + 100, UTC)
    assert counts(done) == {
        "processing": 0,
        "succeeded": 5,
        "errored": 3,
        "canceled": 0,
        "expired": 0,
    }
    assert done.results_url == f"http://sandbox.local/v1/messages/batches/{batch.id}/results"

    lines = list(client.messages.batches.results(batch.id))
    ids = [line.custom_id for line in lines]
    assert sorted(ids) == sorted([f"req-{i}" for i in range(5)] + [r["custom_id"] for r in bad])
    assert ids != [f"req-{i}" for i in range(5)] + [r["custom_id"] for r in bad]  # shuffled
    by_id = {line.custom_id: line.result for line in lines}
    ok = by_id["req-0"]
    assert ok.type == "succeeded"
    assert ok.message.usage.service_tier == "batch"
    sync = client.messages.create(**params(0))
    assert ok.message.content == sync.content  # the same question gets the same answer
    for custom_id, words in (
        ("no-max-tokens", "max_tokens: Field required"),
        ("streamed", "stream"),
        ("hot", "temperature"),
    ):
        errored = by_id[custom_id]
        assert errored.type == "errored"
        assert errored.error.type == "error"
        assert errored.error.error.type == "invalid_request_error"
        assert words in errored.error.error.message
        assert (errored.error.request_id or "").startswith("req_")


def test_cancel_keeps_finished_work(client: anthropic.Anthropic, clock: FakeClock) -> None:
    batch = client.messages.batches.create(requests=requests(20))
    clock.now = T0 + 25  # a quarter done
    canceling = client.messages.batches.cancel(batch.id)
    assert canceling.processing_status == "canceling"
    assert canceling.cancel_initiated_at == datetime.fromtimestamp(T0 + 25, UTC)
    assert counts(canceling)["processing"] == 20
    assert client.messages.batches.cancel(batch.id).processing_status == "canceling"
    with pytest.raises(anthropic.BadRequestError, match="still processing"):
        client.messages.batches.delete(batch.id)
    clock.now = T0 + 34.9
    assert client.messages.batches.retrieve(batch.id).processing_status == "canceling"
    clock.now = T0 + 35
    ended = client.messages.batches.retrieve(batch.id)
    assert ended.processing_status == "ended"
    assert ended.ended_at == datetime.fromtimestamp(T0 + 35, UTC)
    assert counts(ended) == {
        "processing": 0,
        "succeeded": 5,
        "errored": 0,
        "canceled": 15,
        "expired": 0,
    }
    kinds = [line.result.type for line in results(client, batch.id).values()]
    assert sorted(kinds) == ["canceled"] * 15 + ["succeeded"] * 5
    with pytest.raises(anthropic.BadRequestError, match="already ended"):
        client.messages.batches.cancel(batch.id)
    deleted = client.messages.batches.delete(batch.id)
    assert (deleted.id, deleted.type) == (batch.id, "message_batch_deleted")
    with pytest.raises(anthropic.NotFoundError):
        client.messages.batches.retrieve(batch.id)


def test_window_expires_the_rest() -> None:
    clock = FakeClock()
    with anthropic_client(create_app(100.0, clock=clock, window=40.0)) as client:
        batch = client.messages.batches.create(requests=requests(10))
        assert batch.expires_at == datetime.fromtimestamp(T0 + 40, UTC)
        clock.now = T0 + 39
        assert client.messages.batches.retrieve(batch.id).processing_status == "in_progress"
        clock.now = T0 + 1000
        ended = client.messages.batches.retrieve(batch.id)
        assert ended.ended_at == datetime.fromtimestamp(T0 + 40, UTC)
        assert counts(ended) == {
            "processing": 0,
            "succeeded": 4,
            "errored": 0,
            "canceled": 0,
            "expired": 6,
        }
        lines = results(client, batch.id)
        assert (
            sorted(line.result.type for line in lines.values())
            == ["expired"] * 6 + ["succeeded"] * 4
        )


def test_list_pagination_both_ways(client: anthropic.Anthropic) -> None:
    created = [client.messages.batches.create(requests=requests(1)).id for _ in range(7)]
    newest_first = created[::-1]
    first = client.messages.batches.list(limit=3)
    assert [b.id for b in first.data] == newest_first[:3]
    assert (first.first_id, first.last_id, first.has_more) == (
        newest_first[0],
        newest_first[2],
        True,
    )
    assert [b.id for b in client.messages.batches.list(limit=3)] == newest_first  # after_id
    assert len(client.messages.batches.list().data) == 7  # default page: 20
    older = client.messages.batches.list(limit=2, after_id=newest_first[4])
    assert [b.id for b in older.data] == newest_first[5:]
    assert not older.has_more
    newer = client.messages.batches.list(limit=2, before_id=newest_first[4])
    assert [b.id for b in newer.data] == newest_first[2:4]
    assert newer.has_more
    # Starting with before_id, the SDK keeps paging backwards with before_id=first_id.
    backwards = [b.id for b in client.messages.batches.list(limit=2, before_id=newest_first[6])]
    assert backwards == newest_first[4:6] + newest_first[2:4] + newest_first[0:2]


def test_prompt_caching_write_then_read(client: anthropic.Anthropic, clock: FakeClock) -> None:
    def ask(question: str, ttl: str | None = None) -> anthropic.types.Usage:
        control: dict[str, Any] = {"type": "ephemeral"}
        if ttl is not None:
            control["ttl"] = ttl
        system: Any = [{"type": "text", "text": LONG, "cache_control": control}]
        message = client.messages.create(
            model=MODEL,
            max_tokens=20,
            system=system,
            messages=[{"role": "user", "content": question}],
        )
        return message.usage

    first = ask("First question?")
    prefix = first.cache_creation_input_tokens
    assert prefix is not None
    assert prefix >= 1024
    assert first.cache_creation is not None
    assert (first.cache_creation.ephemeral_5m_input_tokens, first.cache_read_input_tokens) == (
        prefix,
        0,
    )
    clock.now += 200
    second = ask("Second question?")
    assert (second.cache_read_input_tokens, second.cache_creation_input_tokens) == (prefix, 0)
    assert second.input_tokens == first.input_tokens + 0  # only the uncached rest
    clock.now += 299  # the read refreshed the 5 minutes
    assert ask("Third?").cache_read_input_tokens == prefix
    clock.now += 301  # now expired: written again
    assert ask("Fourth?").cache_creation_input_tokens == prefix

    hour = ask("Hourly?", ttl="1h")  # the same prefix is live, so this reads it
    assert hour.cache_read_input_tokens == prefix
    clock.now += 3600
    hourly = ask("Hourly again?", ttl="1h")
    assert hourly.cache_creation is not None
    assert hourly.cache_creation.ephemeral_1h_input_tokens == prefix
    clock.now += 3000
    assert ask("Still cached?", ttl="1h").cache_read_input_tokens == prefix


def test_prompt_caching_in_a_batch(client: anthropic.Anthropic, clock: FakeClock) -> None:
    system = [{"type": "text", "text": LONG, "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
    batch = client.messages.batches.create(requests=requests(6, system=system))
    clock.now += 100
    usages = []
    for line in results(client, batch.id).values():
        assert line.result.type == "succeeded"
        usages.append(line.result.message.usage)
    writes = [u for u in usages if u.cache_creation_input_tokens]
    reads = [u for u in usages if u.cache_read_input_tokens]
    assert len(writes) == 1
    assert len(reads) == 5
    assert writes[0].cache_creation is not None
    assert writes[0].cache_creation.ephemeral_1h_input_tokens >= 1024
    assert all(u.service_tier == "batch" for u in usages)


def test_results_over_loopback() -> None:
    with SandboxServer(latency=0.0) as server, anthropic_client(server) as client:
        batch = client.messages.batches.create(requests=requests(12))
        ended = client.messages.batches.retrieve(batch.id)
        assert ended.results_url == f"{server.root_url}/v1/messages/batches/{batch.id}/results"
        lines = results(client, batch.id)
        assert sorted(lines) == sorted(f"req-{i}" for i in range(12))
        assert all(line.result.type == "succeeded" for line in lines.values())
        message = client.messages.create(model=MODEL, max_tokens=50, messages=MESSAGES)
        with client.messages.stream(model=MODEL, max_tokens=50, messages=MESSAGES) as stream:
            assert stream.get_final_message().model_dump() == message.model_dump()
