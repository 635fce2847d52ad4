"""Synchronous calls through the real SDKs: Responses streaming, flex, injected faults, and
the realtime knobs (latency before the first byte, spacing of streamed tokens)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anthropic
import httpx2
import openai
import pytest

from halfrate.sandbox import (
    InProcessTransport,
    SandboxServer,
    anthropic_client,
    create_app,
    openai_client,
)

MESSAGES: Any = [{"role": "user", "content": "Name three uses of copper wire."}]
CLAUDE = "claude-haiku-4-5"
T0 = 1_800_000_000.0


@pytest.fixture(params=["in-process", "loopback"])
def client(request: pytest.FixtureRequest) -> Iterator[openai.OpenAI]:
    if request.param == "in-process":
        with openai_client(create_app(clock=lambda: T0)) as sdk:
            yield sdk
        return
    with SandboxServer(clock=lambda: T0) as server, openai_client(server) as sdk:
        yield sdk


def without_parsed(value: Any) -> Any:
    """The SDK's streaming helper adds ``parsed`` to text parts; the wire has no such field."""
    if isinstance(value, dict):
        return {k: without_parsed(v) for k, v in value.items() if k != "parsed"}
    if isinstance(value, list):
        return [without_parsed(v) for v in value]
    return value


def test_responses_stream_rebuilds_the_unstreamed_answer(client: openai.OpenAI) -> None:
    whole = client.responses.create(model="gpt-4o-mini", input="Describe a lighthouse.")
    with client.responses.stream(model="gpt-4o-mini", input="Describe a lighthouse.") as stream:
        deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert without_parsed(final.to_dict()) == whole.to_dict()
    assert len(deltas) > 3
    assert "".join(deltas) == whole.output_text

    events = list(
        client.responses.create(model="gpt-4o-mini", input="Describe a lighthouse.", stream=True)
    )
    kinds = [event.type for event in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-5:] == [
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [event.sequence_number for event in events] == list(range(len(events)))
    completed = events[-1]
    assert completed.type == "response.completed"
    assert completed.response == whole


def test_a_cut_response_stream_ends_incomplete(client: openai.OpenAI) -> None:
    events = list(
        client.responses.create(
            model="gpt-4o-mini", input="Describe a lighthouse.", max_output_tokens=16, stream=True
        )
    )
    last = events[-1]
    assert last.type == "response.incomplete"
    assert last.response.incomplete_details is not None
    assert last.response.incomplete_details.reason == "max_output_tokens"


def test_the_stream_wire_format() -> None:
    transport = InProcessTransport(create_app())
    with httpx2.Client(transport=transport, base_url="http://sandbox.local") as http:
        body = {"model": "gpt-4o-mini", "input": "Describe a lighthouse.", "stream": True}
        text = http.post("/v1/responses", json=body, headers={"Authorization": "Bearer k"}).text
    frames = [frame for frame in text.split("\n\n") if frame]
    assert frames[0].startswith("event: response.created\ndata: {")
    assert all(frame.startswith("event: response.") for frame in frames)
    assert "[DONE]" not in text


def test_flex_is_accepted_only_for_flex_models(client: openai.OpenAI) -> None:
    for model in ("gpt-5-mini", "o3", "gpt-5-mini-2025-08-07", "gpt-6.1-terra"):
        chat = client.chat.completions.create(model=model, messages=MESSAGES, service_tier="flex")
        assert chat.service_tier == "flex"
    answer = client.responses.create(model="gpt-5-nano", input="Hi", service_tier="flex")
    assert answer.service_tier == "flex"
    for model in ("gpt-4o-mini", "gpt-5-mini-latest", "gpt-5-mini-2025-08"):
        with pytest.raises(openai.BadRequestError) as caught:
            client.chat.completions.create(model=model, messages=MESSAGES, service_tier="flex")
        error = caught.value
        assert (error.param, error.code, error.type) == (
            "service_tier",
            "unsupported_value",
            "invalid_request_error",
        )
        body: Any = error.body
        message = body["message"]
        assert message.startswith(f"Flex processing is not available for model '{model}'.")
    with pytest.raises(openai.BadRequestError, match="Flex processing"):
        client.responses.create(model="gpt-4o", input="Hi", service_tier="flex")
    # Without flex, any model is fine.
    assert client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES).service_tier == (
        "default"
    )


def test_flex_unavailable_is_a_429_the_sdk_sees() -> None:
    app = create_app(faults="flex_unavailable=1")
    with openai_client(app) as sdk:
        client = sdk.with_options(max_retries=0)
        with pytest.raises(openai.RateLimitError) as caught:
            client.chat.completions.create(
                model="gpt-5-mini", messages=MESSAGES, service_tier="flex"
            )
        error = caught.value
        assert error.status_code == 429
        assert error.code == "resource_unavailable"
        assert error.body == {
            "message": "Resource unavailable: there is no flex capacity right now. Retry later, "
            'or send the request without service_tier "flex".',
            "type": "resource_unavailable",
            "param": None,
            "code": "resource_unavailable",
        }
        assert "retry-after" not in error.response.headers
        # Only flex calls meet it.
        assert client.chat.completions.create(model="gpt-5-mini", messages=MESSAGES).id


def test_sync_429_carries_retry_after() -> None:
    app = create_app(faults="sync_429=1,retry_after=0.25")
    with openai_client(app) as sdk, pytest.raises(openai.RateLimitError) as caught:
        sdk.with_options(max_retries=0).embeddings.create(model="text-embedding-3-small", input="x")
    headers = caught.value.response.headers
    assert (headers["retry-after"], headers["retry-after-ms"]) == ("0.25", "250")
    assert caught.value.code == "rate_limit_exceeded"
    with (
        openai_client(create_app(faults="sync_500=1")) as sdk,
        pytest.raises(openai.InternalServerError) as failed,
    ):
        sdk.with_options(max_retries=0).responses.create(model="gpt-4o-mini", input="x")
    assert failed.value.type == "server_error"


def test_a_retry_of_the_same_body_can_succeed() -> None:
    app = create_app(faults="sync_429=0.5,retry_after=0.001,seed=1")
    with openai_client(app) as sdk:
        client = sdk.with_options(max_retries=10)
        for i in range(8):
            messages: Any = [{"role": "user", "content": f"question {i}"}]
            assert client.chat.completions.create(model="gpt-4o-mini", messages=messages).id
    statuses = [entry["status"] for entry in app.state.sandbox.ledger.entries()]
    assert statuses.count(200) == 8
    assert 429 in statuses


def test_anthropic_faults() -> None:
    for spec, error in (
        ("sync_429=1,retry_after=2", anthropic.RateLimitError),
        ("sync_500=1", anthropic.InternalServerError),
        ("sync_529=1", anthropic.OverloadedError),
    ):
        with anthropic_client(create_app(faults=spec)) as sdk, pytest.raises(error) as caught:
            sdk.with_options(max_retries=0).messages.create(
                model=CLAUDE, max_tokens=10, messages=MESSAGES, stream=True
            )
        body: Any = caught.value.body
        assert body["type"] == "error"
        assert body["request_id"] == caught.value.response.headers["request-id"]
        if error is anthropic.RateLimitError:
            assert body["error"]["type"] == "rate_limit_error"
            assert caught.value.response.headers["retry-after"] == "2"
            assert caught.value.response.headers["retry-after-ms"] == "2000"
    # sync_529 is Anthropic's only; OpenAI calls never meet it.
    with openai_client(create_app(faults="sync_529=1")) as sdk:
        assert sdk.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES).id


def test_realtime_latency_does_not_block() -> None:
    calls, latency = 20, 0.2
    with SandboxServer(realtime_latency=latency) as server, openai_client(server) as sdk:
        sdk.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)  # warm up

        def call(i: int) -> float:
            started = time.perf_counter()
            messages: Any = [{"role": "user", "content": f"question {i}"}]
            sdk.chat.completions.create(model="gpt-4o-mini", messages=messages)
            return time.perf_counter() - started

        started = time.perf_counter()
        with ThreadPoolExecutor(calls) as pool:
            each = list(pool.map(call, range(calls)))
        elapsed = time.perf_counter() - started
    assert min(each) >= latency
    assert elapsed < calls * latency / 2, f"{calls} calls took {elapsed:.2f}s"  # serial: 4 s


def test_streamed_latency_and_token_interval() -> None:
    latency, interval = 0.15, 0.04
    with SandboxServer(realtime_latency=latency, token_interval=interval) as server:
        with openai_client(server) as sdk:
            started = time.perf_counter()
            stream = sdk.chat.completions.create(
                model="gpt-4o-mini", messages=MESSAGES, max_tokens=8, stream=True
            )
            arrivals = []
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    arrivals.append(time.perf_counter() - started)
        with anthropic_client(server) as claude:
            started = time.perf_counter()
            with claude.messages.stream(model=CLAUDE, max_tokens=8, messages=MESSAGES) as events:
                pieces = [(time.perf_counter() - started) for _ in events.text_stream]
    for times in (arrivals, pieces):
        assert len(times) >= 3
        assert times[0] >= latency
        # The server waits `interval` between content events, so the last one cannot arrive
        # sooner than this (the first may arrive late, so single gaps can look shorter).
        assert times[-1] >= latency + (len(times) - 1) * interval
