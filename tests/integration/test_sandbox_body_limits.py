"""The sandbox refuses bodies over the providers' sizes up front (413), never reading them in."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx2
import pytest

from halfrate.sandbox import SandboxServer
from halfrate.sandbox.body_limits import BATCH_CREATE_BYTES, JSON_BODY_BYTES, UPLOAD_BYTES

OPENAI = {"Authorization": "Bearer test", "content-type": "application/json"}
ANTHROPIC = {"x-api-key": "test", "anthropic-version": "2023-06-01"}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server


def declared_only(sandbox: SandboxServer, path: str, length: int, headers: dict[str, str]) -> str:
    """Send the request line and headers declaring ``length`` bytes, and none of the body."""
    where = urlsplit(sandbox.root_url)
    lines = [f"POST {path} HTTP/1.1", f"Host: {where.netloc}", f"Content-Length: {length}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    with socket.create_connection((where.hostname, where.port), timeout=5) as conn:
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        received = b""
        while b"\r\n\r\n" not in received or not received.rstrip().endswith(b"}"):
            chunk = conn.recv(65536)
            if not chunk:
                break
            received += chunk
    return received.decode()


@pytest.mark.parametrize(
    ("path", "limit", "headers", "shape"),
    [
        ("/v1/files", UPLOAD_BYTES, {"Authorization": "Bearer test"}, '"code":"request_too_large"'),
        ("/v1/chat/completions", JSON_BODY_BYTES, OPENAI, '"code":"request_too_large"'),
        ("/v1/messages/batches", BATCH_CREATE_BYTES, ANTHROPIC, '"type":"request_too_large"'),
        ("/v1/messages", JSON_BODY_BYTES, ANTHROPIC, '"type":"request_too_large"'),
    ],
)
def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_sent(
    sandbox: SandboxServer, path: str, limit: int, headers: dict[str, str], shape: str
) -> None:
    started = time.monotonic()
    answer = declared_only(sandbox, path, limit + 1, headers)
    assert answer.startswith("HTTP/1.1 413 "), answer[:200]
    assert shape in answer
    assert f"{limit:,} bytes" in answer
    assert time.monotonic() - started < 5  # answered without waiting for the body


def test_a_body_without_a_length_is_cut_off_at_the_limit(sandbox: SandboxServer) -> None:
    sent = 0

    def stream() -> Iterator[bytes]:
        nonlocal sent
        chunk = b"x" * (1024 * 1024)
        while sent < 2 * JSON_BODY_BYTES:  # an endless-looking body, twice the limit
            sent += len(chunk)
            yield chunk

    with httpx2.Client(timeout=30) as client:
        response = client.post(
            f"{sandbox.anthropic_base_url}/v1/messages", content=stream(), headers=ANTHROPIC
        )
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "request_too_large"


def test_bodies_within_the_limits_still_pass(sandbox: SandboxServer) -> None:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "y" * 1_000_000}]}
    with httpx2.Client(timeout=30) as client:
        response = client.post(f"{sandbox.base_url}/chat/completions", json=body, headers=OPENAI)
    assert response.status_code == 200, response.text
