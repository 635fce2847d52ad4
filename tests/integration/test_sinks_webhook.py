"""The webhook sink against a real HTTP server on loopback: failed tries are reported and redone,
the Idempotency-Key stays the same, the signature verifies, secrets stay out of reasons."""

from __future__ import annotations

import hashlib
import hmac
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest

from halfrate.sinks import Outgoing, parse_sink
from halfrate.sinks.addresses import refused_host
from halfrate.sinks.opening import open_sink
from halfrate.sinks.webhook import WebhookSink


@dataclass
class Received:
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes

    @property
    def key(self) -> str:
        return str(orjson.loads(self.body)["key"])


@dataclass
class Receiver:
    """What the server saw, and how it answers."""

    base_url: str = ""
    fail_first: set[str] = field(default_factory=set)  # these keys get a 503 on their first try
    delay: float = 0.0
    received: list[Received] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def tries(self, key: str) -> list[Received]:
        return [r for r in self.received if r.key == key]


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a handler still sleeping for the timeout test does not block close

    def __init__(self, receiver: Receiver) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.receiver = receiver


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver would

    def do_POST(self) -> None:
        assert isinstance(self.server, _Server)
        receiver = self.server.receiver
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        seen = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        with receiver.lock:
            receiver.received.append(seen)
            first_try = len(receiver.tries(seen.key)) == 1
            receiver.in_flight += 1
            receiver.most_in_flight = max(receiver.most_in_flight, receiver.in_flight)
        try:
            time.sleep(receiver.delay)
            if self.path.startswith("/slow"):
                time.sleep(2.0)
            if self.path.startswith("/moved"):
                self._answer(302, b"", location="https://elsewhere.example/")
            elif self.path.startswith("/reject"):
                self._answer(400, b'{"error": "no"}')
            elif seen.key in receiver.fail_first and first_try:
                self._answer(503, b"busy")
            else:
                self._answer(200, b'{"ok": true}')
        finally:
            with receiver.lock:
                receiver.in_flight -= 1

    def _answer(self, status: int, body: bytes, location: str | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        if location:
            self.send_header("Location", location)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests look at what was received instead."""


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    monkeypatch.setenv("HALFRATE_WEBHOOK_ALLOW_PRIVATE", "1")  # it listens on loopback
    receiver = Receiver()
    server = _Server(receiver)
    receiver.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def item(key: str) -> Outgoing:
    response = {"id": f"resp-{key}", "choices": [{"message": {"content": f"answer {key}"}}]}
    return Outgoing(
        key, "job-1", f"s1:{key}", "succeeded", 200, orjson.dumps(response).decode(), None
    )


def hooked(monkeypatch: pytest.MonkeyPatch, url: str) -> WebhookSink:
    """A webhook sink whose URL (with its token) is in an environment variable, as a URL with a
    query must be given."""
    monkeypatch.setenv("TEST_HOOK_URL", url)
    sink = open_sink(parse_sink("webhook:env:TEST_HOOK_URL"))
    assert isinstance(sink, WebhookSink)
    return sink


def test_failed_tries_are_reported_and_redelivered_with_the_same_key(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver.fail_first = {"k3", "k7"}
    sink = hooked(monkeypatch, f"{receiver.base_url}/hook?token=s3cret")
    items = [item(f"k{i}") for i in range(12)]

    first = sink.deliver(items, None)
    assert first.delivered == [f"s1:k{i}" for i in range(12) if i not in (3, 7)]
    assert first.failed == {
        "s1:k3": f"HTTP 503 from {receiver.base_url}/hook",
        "s1:k7": f"HTTP 503 from {receiver.base_url}/hook",
    }
    second = sink.deliver([items[3], items[7]], None)
    assert second.delivered == ["s1:k3", "s1:k7"]
    assert second.failed == {}
    sink.close()

    assert len(receiver.received) == 14
    for key in ("k3", "k7"):
        tries = receiver.tries(key)
        assert [t.headers["idempotency-key"] for t in tries] == [f"s1:{key}", f"s1:{key}"]
        assert tries[0].body == tries[1].body
    for seen in receiver.received:
        assert seen.path == "/hook?token=s3cret"
        assert seen.headers["content-type"] == "application/json"
        assert seen.headers["user-agent"] == "halfrate"
        assert "x-halfrate-signature" not in seen.headers


def test_the_body_carries_the_result_as_objects(receiver: Receiver) -> None:
    refused = Outgoing(
        "r1", "job-9", "s1:r1", "failed", 400, None, '{"code": "bad", "message": "no"}'
    )
    sink = open_sink(parse_sink(f"webhook:{receiver.base_url}/hook"))
    assert sink.deliver([item("a1"), refused], None).delivered == ["s1:a1", "s1:r1"]
    sink.close()
    bodies = {seen.key: orjson.loads(seen.body) for seen in receiver.received}
    assert bodies["a1"] == {
        "key": "a1",
        "job_id": "job-1",
        "status": "succeeded",
        "status_code": 200,
        "response": {"id": "resp-a1", "choices": [{"message": {"content": "answer a1"}}]},
        "error": None,
    }
    assert bodies["r1"] == {
        "key": "r1",
        "job_id": "job-9",
        "status": "failed",
        "status_code": 400,
        "response": None,
        "error": {"code": "bad", "message": "no"},
    }


def test_deliveries_are_signed_when_a_secret_is_set(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HALFRATE_WEBHOOK_SECRET", "correct horse battery staple")
    sink = open_sink(parse_sink(f"{receiver.base_url}/hook"))
    assert len(sink.deliver([item("a"), item("b"), item("c")], None).delivered) == 3
    sink.close()
    for seen in receiver.received:
        expected = hmac.new(b"correct horse battery staple", seen.body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(seen.headers["x-halfrate-signature"], f"sha256={expected}")


def test_posts_run_a_few_at_a_time(receiver: Receiver) -> None:
    receiver.delay = 0.2
    sink = open_sink(parse_sink(f"{receiver.base_url}/hook"))
    started = time.monotonic()
    report = sink.deliver([item(f"k{i}") for i in range(16)], None)
    elapsed = time.monotonic() - started
    sink.close()
    assert len(report.delivered) == 16
    assert 2 <= receiver.most_in_flight <= 8
    assert elapsed < 16 * 0.2 / 2  # one at a time would take 3.2 s


def test_a_refusal_and_a_redirect_are_failures(receiver: Receiver) -> None:
    for path, status in (("/reject", 400), ("/moved", 302)):
        sink = open_sink(parse_sink(f"{receiver.base_url}{path}"))
        report = sink.deliver([item("a")], None)
        sink.close()
        assert report.failed == {"s1:a": f"HTTP {status} from {receiver.base_url}{path}"}
    assert len(receiver.received) == 2  # the redirect was not followed


def test_a_slow_receiver_times_out(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_HOOK_URL", f"{receiver.base_url}/slow?token=s3cret")
    sink = WebhookSink(parse_sink("webhook:env:TEST_HOOK_URL"), timeout=0.3)
    report = sink.deliver([item("a")], None)
    sink.close()
    assert report.failed == {"s1:a": f"timed out after 0.3 s posting to {receiver.base_url}/slow"}


def test_an_unreachable_receiver_is_a_failure_without_the_query(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HALFRATE_WEBHOOK_ALLOW_PRIVATE", "1")
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink = hooked(monkeypatch, f"http://127.0.0.1:{port}/hook?token=s3cret")
    report = sink.deliver([item("a"), item("b")], "c1")
    sink.close()
    assert report.delivered == []
    assert report.cursor == "c1"
    reason = report.failed["s1:a"]
    assert reason.startswith(f"cannot post to http://127.0.0.1:{port}/hook: ConnectError")
    assert "s3cret" not in reason


def test_an_unreadable_stored_result_fails_alone(receiver: Receiver) -> None:
    broken = Outgoing("x", "job-1", "s1:x", "succeeded", 200, "{no", None)
    sink = open_sink(parse_sink(f"{receiver.base_url}/hook"))
    report = sink.deliver([broken, item("a")], None)
    sink.close()
    assert report.delivered == ["s1:a"]
    assert "not valid JSON" in report.failed["s1:x"]
    assert [seen.key for seen in receiver.received] == ["a"]


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",  # a cloud's metadata service
        "http://localhost:22/",
        "http://127.0.0.1:8080/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://[::1]:9000/x",
        "http://[fe80::1]/x",
    ],
)
def test_a_receiver_on_this_machine_or_network_is_refused_unless_allowed(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    reason = refused_host(url)
    assert reason is not None
    assert "is not a public address" in reason
    assert "HALFRATE_WEBHOOK_ALLOW_PRIVATE=1" in reason
    # Checked again before each chunk is sent: a sink stored while it was allowed, or a name
    # whose address changed since, sends nothing.
    sink = open_sink(parse_sink(url))
    report = sink.deliver([item("a")], "c1")
    sink.close()
    assert report.delivered == []
    assert report.failed["s1:a"].startswith("not sent to ")
    monkeypatch.setenv("HALFRATE_WEBHOOK_ALLOW_PRIVATE", "1")
    assert refused_host(url) is None


def test_a_public_or_unknown_host_is_not_refused() -> None:
    assert refused_host("https://93.184.216.34/hook") is None
    assert refused_host("https://no-such-host.invalid/hook") is None  # tried, and retried
