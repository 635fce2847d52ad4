"""The sandbox over real loopback HTTP (uvicorn in a thread), driven by the real SDK."""

from __future__ import annotations

import io
import socket
import time
from collections.abc import Iterator
from typing import Final

import httpx2
import openai
import orjson
import pytest

from halfrate.errors import HalfrateError
from halfrate.sandbox import SandboxServer, openai_client, serve

CHAT: Final = "/v1/chat/completions"


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(latency=0.3) as running:
        yield running


def test_urls(server: SandboxServer) -> None:
    assert server.port > 0
    assert server.root_url == f"http://127.0.0.1:{server.port}"
    assert server.base_url == f"{server.root_url}/v1"
    response = httpx2.get(server.root_url + "/")
    assert response.status_code == 200
    assert response.headers["x-halfrate-sandbox"] == "1"


def test_batch_round_trip_over_loopback(server: SandboxServer) -> None:
    n = 25
    lines = [
        {
            "custom_id": f"q{i}",
            "method": "POST",
            "url": CHAT,
            "body": {
                "model": "gpt-4o-mini",
                "messages": [{"role": "user", "content": f"Explain tides, part {i}."}],
            },
        }
        for i in range(n)
    ]
    data = b"".join(orjson.dumps(line) + b"\n" for line in lines)
    with openai_client(server) as client:
        file = client.files.create(file=("tides.jsonl", io.BytesIO(data)), purpose="batch")
        batch = client.batches.create(
            input_file_id=file.id,
            endpoint=CHAT,
            completion_window="24h",
            metadata={"job": "tides"},
        )
        assert batch.status == "validating"
        seen: set[str] = {batch.status}
        deadline = time.monotonic() + 10
        while batch.status not in ("completed", "failed", "cancelled", "expired"):
            assert time.monotonic() < deadline
            time.sleep(0.02)
            batch = client.batches.retrieve(batch.id)
            seen.add(batch.status)
        assert batch.status == "completed"
        assert "in_progress" in seen
        assert batch.metadata == {"job": "tides"}
        assert batch.output_file_id is not None
        with client.files.with_streaming_response.content(batch.output_file_id) as response:
            results = [orjson.loads(line) for line in response.iter_lines() if line]
        assert sorted(r["custom_id"] for r in results) == sorted(f"q{i}" for i in range(n))
        assert batch.usage is not None
        assert batch.usage.input_tokens == sum(
            r["response"]["body"]["usage"]["prompt_tokens"] for r in results
        )

        embedded = client.embeddings.create(model="text-embedding-3-small", input="tides")
        assert len(embedded.data[0].embedding) == 1536


def test_401_without_bearer_over_loopback(server: SandboxServer) -> None:
    response = httpx2.post(server.base_url + "/chat/completions", json={})
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Missing bearer authentication in header"


def test_port_in_use_is_a_clear_error(server: SandboxServer) -> None:
    with pytest.raises(HalfrateError, match=r"cannot listen on 127\.0\.0\.1:\d+: address in use"):
        SandboxServer(port=server.port).start()
    with pytest.raises(HalfrateError, match="address in use"):
        serve(port=server.port)


def test_fixed_port_and_restart() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for _ in range(2):  # the port is free again once the server stopped
        with SandboxServer(port=port) as running, openai_client(running) as client:
            assert running.port == port
            assert client.batches.list().data == []


def test_stopped_server_refuses_connections() -> None:
    running = SandboxServer()
    running.start()
    url = running.root_url
    running.stop()
    with pytest.raises(httpx2.ConnectError):
        httpx2.get(url + "/")
    with openai_client(running) as client, pytest.raises(openai.APIConnectionError):
        client.with_options(max_retries=0).batches.list()
