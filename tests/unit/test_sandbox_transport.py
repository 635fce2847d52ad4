"""InProcessTransport: a sync httpx2 client driving an ASGI app in-process, with streaming."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator

import anyio
import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from halfrate.sandbox import InProcessTransport

stream_ended = threading.Event()


async def echo(request: Request) -> Response:
    body = await request.body()
    return JSONResponse(
        {
            "method": request.method,
            "path": request.url.path,
            "query": request.url.query,
            "body": body.decode(),
            "auth": request.headers.get("authorization"),
        }
    )


async def chunks(request: Request) -> Response:
    async def produce() -> AsyncIterator[bytes]:
        for i in range(3):
            yield f"chunk{i};".encode()

    return StreamingResponse(produce())


async def endless(request: Request) -> Response:
    async def produce() -> AsyncIterator[bytes]:
        try:
            while True:
                yield b"tick\n"
                await anyio.sleep(0.01)
        finally:
            stream_ended.set()  # the app notices the client went away

    return StreamingResponse(produce())


async def silent(request: Request) -> Response:
    await anyio.sleep(5)
    return Response(b"late")


async def broken(request: Request) -> Response:
    raise RuntimeError("boom")


app = Starlette(
    routes=[
        Route("/echo", echo, methods=["GET", "POST"]),
        Route("/chunks", chunks),
        Route("/endless", endless),
        Route("/silent", silent),
        Route("/broken", broken),
    ]
)


@pytest.fixture
def http() -> Iterator[httpx2.Client]:
    with httpx2.Client(transport=InProcessTransport(app), base_url="http://test.local") as client:
        yield client


def test_request_reaches_the_app(http: httpx2.Client) -> None:
    response = http.post("/echo?x=1", content=b"hello", headers={"Authorization": "Bearer k"})
    assert response.status_code == 200
    assert response.json() == {
        "method": "POST",
        "path": "/echo",
        "query": "x=1",
        "body": "hello",
        "auth": "Bearer k",
    }


def test_multipart_body_is_sent(http: httpx2.Client) -> None:
    response = http.post("/echo", files={"file": ("a.txt", b"abc")}, data={"purpose": "x"})
    assert 'name="purpose"' in response.json()["body"]
    assert "abc" in response.json()["body"]


def test_response_streams_chunk_by_chunk(http: httpx2.Client) -> None:
    with http.stream("GET", "/chunks") as response:
        parts = list(response.iter_raw())
    assert parts == [b"chunk0;", b"chunk1;", b"chunk2;"]


def test_closing_early_disconnects_the_app(http: httpx2.Client) -> None:
    stream_ended.clear()
    with http.stream("GET", "/endless") as response:
        for line in response.iter_lines():
            assert line == "tick"
            break
    assert stream_ended.wait(5)
    assert http.post("/echo", content=b"still works").json()["body"] == "still works"


def test_read_timeout(http: httpx2.Client) -> None:
    with pytest.raises(httpx2.ReadTimeout):
        http.get("/silent", timeout=0.1)


def test_app_errors_become_500(http: httpx2.Client) -> None:
    assert http.get("/broken").status_code == 500


def test_concurrent_requests_from_threads(http: httpx2.Client) -> None:
    results: list[int] = []

    def call(i: int) -> None:
        results.append(int(http.post("/echo", content=str(i).encode()).json()["body"]))

    threads = [threading.Thread(target=call, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == list(range(20))


def test_close_stops_the_event_loop_thread() -> None:
    transport = InProcessTransport(app)
    before = threading.active_count()
    with httpx2.Client(transport=transport, base_url="http://t") as client:
        assert client.get("/echo").status_code == 200
        assert threading.active_count() == before + 1
    assert threading.active_count() == before
    transport.close()  # closing twice is harmless


def test_a_client_never_closed_does_not_keep_the_interpreter_alive() -> None:
    import subprocess
    import sys

    script = (
        "from halfrate.sandbox import create_app, openai_client\n"
        "c = openai_client(create_app())\n"
        "c.chat.completions.create(\n"
        "    model='gpt-4o-mini', messages=[{'role': 'user', 'content': 'x'}]\n"
        ")\n"
        "print('answered')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "answered"
