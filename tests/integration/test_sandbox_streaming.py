"""Streaming chat completions from the sandbox with the real openai SDK, in-process and over
loopback: the chunks rebuild exactly the answer the unstreamed call gives."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from halfrate.sandbox import SandboxServer, create_app, openai_client

MESSAGES: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "Summarise the quarterly report in two sentences."}
]


@pytest.fixture(params=["in-process", "loopback"])
def client(request: pytest.FixtureRequest) -> Iterator[openai.OpenAI]:
    if request.param == "in-process":
        sdk = openai_client(create_app())
        yield sdk
        sdk.close()
        return
    with SandboxServer() as server:
        sdk = openai_client(server)
        yield sdk
        sdk.close()


def test_streamed_chunks_rebuild_the_unstreamed_answer(client: openai.OpenAI) -> None:
    whole = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces: list[str] = []
    finish = None
    usage = None
    roles = []
    for chunk in stream:
        assert chunk.object == "chat.completion.chunk"
        assert chunk.id == whole.id
        if chunk.usage is not None:
            usage = chunk.usage
            assert chunk.choices == []
            continue
        delta = chunk.choices[0].delta
        if delta.role:
            roles.append(delta.role)
        if delta.content:
            pieces.append(delta.content)
        finish = chunk.choices[0].finish_reason or finish
    assert roles == ["assistant"]
    assert len(pieces) > 3  # word by word, so time between tokens can be measured
    assert "".join(pieces) == whole.choices[0].message.content
    assert finish == whole.choices[0].finish_reason
    assert usage == whole.usage


def test_usage_only_when_asked_and_max_tokens_respected(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        stream=True,
        max_tokens=5,
    )
    chunks = list(stream)
    assert all(chunk.usage is None for chunk in chunks)
    assert chunks[-1].choices[0].finish_reason == "length"


def test_a_bad_streamed_request_is_an_ordinary_error(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="messages"):
        client.chat.completions.create(model="gpt-4o-mini", messages=[], stream=True)
    with pytest.raises(openai.BadRequestError, match="streaming is simulated for"):
        client.embeddings.create(
            model="text-embedding-3-small", input="x", extra_body={"stream": True}
        )
