"""Webhook receivers that misbehave (one that hangs, one that answers 500 forever, one that closes
the connection) never hold up other work: an unrelated job finishes as fast as it would alone,
and when the receiver recovers every result lands, each key at least once and none lost."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson
import pytest

from halfrate.api import Halfrate, RunMode
from halfrate.sandbox import SandboxServer
from tests.helpers import chat_line, fast_halfrate, write_jsonl

REQUESTS = 40  # more than a webhook posts at once: the rest of a chunk waits its turn
ON_TIME_SECONDS = 15.0  # an unrelated 5-request job ends well within this on the sandbox


class Receiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.mode = "ok"
        self.taken: dict[str, int] = {}  # idempotency key -> 2xx answers given
        self.lock = threading.Lock()
        self.released = threading.Event()  # ends the hanging

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *_args: object) -> None:
        """Quiet."""

    def do_POST(self) -> None:
        server = self.server
        assert isinstance(server, Receiver)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        key = self.headers["Idempotency-Key"]
        if server.mode == "hang":
            server.released.wait(60)
            return  # then drop it without a word
        if server.mode == "close":
            self.close_connection = True
            self.connection.close()
            return
        if server.mode == "500":
            self._answer(500, b"broken")
            return
        assert orjson.loads(body)["key"]
        with server.lock:
            server.taken[key] = server.taken.get(key, 0) + 1
        self._answer(200, b"ok")

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    monkeypatch.setenv("HALFRATE_WEBHOOK_ALLOW_PRIVATE", "1")  # it listens on loopback
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.released.set()
    server.shutdown()
    server.server_close()


def wait_for(check: object, seconds: float, what: str) -> float:
    started = time.monotonic()
    while not check():  # type: ignore[operator]
        assert time.monotonic() - started < seconds, f"{what} took over {seconds:.0f} s"
        time.sleep(0.1)
    return time.monotonic() - started


def done(hr: Halfrate, job: str) -> bool:
    return hr.status(job).done


@pytest.mark.parametrize("mode", ["hang", "500", "close"])
def test_a_misbehaving_receiver_holds_up_nothing_and_gets_everything_once_back(
    mode: str,
    receiver: Receiver,
    sqlite_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    receiver.mode = mode
    hooked = [chat_line(f"h{i}", f"hooked question {i}") for i in range(REQUESTS)]
    other = [chat_line(f"o{i}", f"unrelated question {i}") for i in range(5)]
    with SandboxServer(latency=0.2) as sandbox:
        monkeypatch.setenv("OPENAI_BASE_URL", sandbox.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sandbox-hooks")
        hr = fast_halfrate(sqlite_url)
        stop = threading.Event()
        worker = threading.Thread(
            target=hr.run_worker, args=(RunMode.FOREVER,), kwargs={"stop": stop}, daemon=True
        )
        try:
            first = hr.submit_file(
                write_jsonl(tmp_path / "hooked.jsonl", hooked), sinks=[receiver.url]
            )
            worker.start()
            wait_for(lambda: done(hr, first.job_id), ON_TIME_SECONDS, "the hooked job")
            # The receiver is failing now; an unrelated job comes and must not wait for it.
            second = hr.submit_file(write_jsonl(tmp_path / "other.jsonl", other))
            took = wait_for(lambda: done(hr, second.job_id), ON_TIME_SECONDS, "the other job")
            assert hr.status(first.job_id).undelivered > 0  # still failing meanwhile
            # The receiver recovers: every result lands.
            receiver.mode = "ok"
            receiver.released.set()
            wait_for(lambda: hr.status(first.job_id).undelivered == 0, 90.0, "the deliveries")
        finally:
            stop.set()
            worker.join(30)
            hr.close()
    assert len(receiver.taken) == REQUESTS  # every result, under its own idempotency key
    print(f"\n{mode}: the unrelated job took {took:.1f} s")
