"""A synchronous httpx2 transport that runs an ASGI app in the same process.

httpx2's own ``ASGITransport`` is async-only and buffers whole responses, while the OpenAI SDK's
``OpenAI`` client is synchronous and streams downloads. This transport runs the app on an event
loop in a background thread (an anyio blocking portal) and hands the response to the caller chunk
by chunk as the app sends it, so streaming reads see real streaming; closing a response early is
reported to the app as a client disconnect.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Iterator
from typing import Any

import anyio
import httpx2
from anyio.from_thread import BlockingPortal
from starlette.types import ASGIApp, Message, Scope

log = logging.getLogger(__name__)

_DEFAULT_PORTS = {"http": 80, "https": 443}


class _Exchange:
    """One request/response cycle. ``run`` executes on the event loop; the caller's thread
    reads the events it posts (``start``, ``body``, ``end``, ``error``) from a queue."""

    def __init__(self, app: ASGIApp, scope: Scope, body: bytes) -> None:
        self.app = app
        self.scope = scope
        self.body = body
        self.events: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._request_sent = False
        self._disconnected: anyio.Event | None = None

    async def run(self) -> None:
        self._disconnected = anyio.Event()
        try:
            await self.app(self.scope, self._receive, self._send)
        except BaseException as exc:
            self.events.put(("error", exc))
            if not isinstance(exc, Exception):
                raise  # cancellation must keep propagating
        else:
            self.events.put(("end", None))

    async def _receive(self) -> Message:
        if not self._request_sent:
            self._request_sent = True
            return {"type": "http.request", "body": self.body, "more_body": False}
        assert self._disconnected is not None
        await self._disconnected.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message: Message) -> None:
        assert self._disconnected is not None
        if self._disconnected.is_set():
            raise OSError("the client closed the response")
        if message["type"] == "http.response.start":
            self.events.put(("start", (message["status"], message.get("headers", []))))
        elif message["type"] == "http.response.body":
            more = bool(message.get("more_body", False))
            self.events.put(("body", (bytes(message.get("body", b"")), more)))
            if not more:
                self._disconnected.set()  # the cycle is over; a waiting receive() may return

    def disconnect(self, portal: BlockingPortal) -> None:
        """Tell the app the client went away (from the caller's thread)."""
        event = self._disconnected
        if event is None or event.is_set():
            return
        with contextlib.suppress(RuntimeError):  # the portal has already stopped
            portal.call(event.set)

    def wait(self, request: httpx2.Request, timeout: float | None) -> tuple[str, Any]:
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            raise httpx2.ReadTimeout(
                "the in-process sandbox did not answer in time", request=request
            ) from None


class _ResponseStream(httpx2.SyncByteStream):
    def __init__(
        self,
        exchange: _Exchange,
        portal: BlockingPortal,
        request: httpx2.Request,
        timeout: float | None,
    ) -> None:
        self._exchange = exchange
        self._portal = portal
        self._request = request
        self._timeout = timeout
        self._done = False

    def __iter__(self) -> Iterator[bytes]:
        while not self._done:
            kind, value = self._exchange.wait(self._request, self._timeout)
            if kind == "body":
                chunk, more = value
                self._done = not more
                if chunk:
                    yield chunk
            elif kind == "end":
                self._done = True
            elif kind == "error":
                self._done = True
                raise httpx2.ReadError(
                    f"the sandbox app failed while sending the response: {value!r}",
                    request=self._request,
                ) from value

    def close(self) -> None:
        if not self._done:
            self._done = True
            self._exchange.disconnect(self._portal)


def _timeout(request: httpx2.Request) -> float | None:
    timeouts = request.extensions.get("timeout") or {}
    read = timeouts.get("read")
    return float(read) if read is not None else None


def _scope(request: httpx2.Request) -> Scope:
    url = request.url
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": request.method,
        "scheme": url.scheme,
        "path": url.path,
        "raw_path": url.raw_path.split(b"?")[0],
        "query_string": url.query,
        "root_path": "",
        "headers": [(name.lower(), value) for name, value in request.headers.raw],
        "server": (url.host, url.port or _DEFAULT_PORTS.get(url.scheme, 80)),
        "client": ("127.0.0.1", 0),
    }


class InProcessTransport(httpx2.BaseTransport):
    """Send ``httpx2.Client`` requests straight to an ASGI app, without a socket.

    The event loop thread starts at the first request; :meth:`close` (called by
    ``httpx2.Client.close``) stops it. The thread is a daemon, so a transport that is never
    closed does not keep the interpreter alive.
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._portal: BlockingPortal | None = None

    def _get_portal(self) -> BlockingPortal:
        with self._lock:
            if self._portal is None:
                self._portal, self._thread = _start_portal()
            return self._portal

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        body = request.read()
        timeout = _timeout(request)
        portal = self._get_portal()
        exchange = _Exchange(self._app, _scope(request), body)
        portal.start_task_soon(exchange.run)
        kind, value = exchange.wait(request, timeout)
        if kind == "error":
            if isinstance(value, Exception):
                raise value  # the app failed before answering, as httpx2's ASGITransport does
            raise httpx2.ReadError("the in-process sandbox was shut down", request=request)
        if kind == "end":
            raise httpx2.RemoteProtocolError(
                "the sandbox app returned without sending a response", request=request
            )
        status, headers = value
        stream = _ResponseStream(exchange, portal, request, timeout)
        return httpx2.Response(status, headers=headers, stream=stream)

    def close(self) -> None:
        with self._lock:
            portal, thread = self._portal, self._thread
            self._portal = self._thread = None
        if portal is None or thread is None:
            return
        # Cancel what is still running (e.g. a response nobody read to the end), then stop.
        with contextlib.suppress(RuntimeError):
            portal.call(portal.stop, True)
        thread.join()


def _start_portal() -> tuple[BlockingPortal, threading.Thread]:
    """An event loop in a *daemon* thread, and a portal into it.

    anyio's ``start_blocking_portal`` runs its loop in an executor thread, which interpreter
    shutdown waits for: a script that never closed its sandbox client would hang on exit.
    """
    ready: queue.Queue[BlockingPortal | BaseException] = queue.Queue(maxsize=1)

    async def serve() -> None:
        async with BlockingPortal() as portal:
            ready.put(portal)
            await portal.sleep_until_stopped()

    def run() -> None:
        try:
            anyio.run(serve)
        except BaseException as exc:  # handed to the thread that asked for the portal
            if ready.empty():
                ready.put(exc)

    thread = threading.Thread(target=run, name="halfrate-sandbox-inprocess", daemon=True)
    thread.start()
    started = ready.get()
    if isinstance(started, BaseException):
        raise started
    return started, thread
