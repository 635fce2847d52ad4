"""Serving the sandbox over real HTTP: a background server for tests, a blocking one for the CLI.

We bind the listening socket ourselves before handing it to uvicorn, so a port already in use is
a clear :class:`HalfrateError` at once instead of a log line and ``sys.exit`` inside uvicorn.
uvicorn gets ``log_config=None``: the sandbox never reconfigures the caller's logging and prints
nothing itself.
"""

from __future__ import annotations

import errno
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType

import uvicorn
from fastapi import FastAPI

from halfrate.errors import HalfrateError
from halfrate.sandbox.app import create_app
from halfrate.sandbox.common.batching import WINDOW_SECONDS
from halfrate.sandbox.faults.spec import Faults

START_TIMEOUT = 10.0


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free port)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise HalfrateError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        # Lets a restarted sandbox reuse a port left in TIME_WAIT; a port another process is
        # listening on still fails to bind.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        reason = "address in use" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)
        raise HalfrateError(f"cannot listen on {host}:{port}: {reason}") from exc
    sock.setblocking(False)
    return sock


def _config(app: FastAPI) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=2,
        # uvicorn closes idle connections after 5 s by default; a client reusing one just as
        # it closes sees a broken connection and tries again. Providers keep theirs longer.
        timeout_keep_alive=75,
    )


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class SandboxServer:
    """The sandbox on a loopback port, served by uvicorn in a background thread.

    Use as a context manager; ``start()`` returns once the server accepts connections. The
    keyword arguments are those of :func:`create_app`.
    """

    def __init__(
        self,
        latency: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        clock: Callable[[], float] | None = None,
        window: float = WINDOW_SECONDS,
        realtime_latency: float = 0.0,
        token_interval: float = 0.0,
        cancel_latency: float | None = None,
        faults: Faults | str | None = None,
    ) -> None:
        self.app = create_app(
            latency,
            clock=clock,
            window=window,
            realtime_latency=realtime_latency,
            token_interval=token_interval,
            cancel_latency=cancel_latency,
            faults=faults,
        )
        self.host = host
        self.port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def root_url(self) -> str:
        return f"http://{_url_host(self.host)}:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI base URL (``…/v1``) to give the SDK."""
        return f"{self.root_url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        """The Anthropic base URL (the root: Anthropic's paths include ``/v1``)."""
        return self.root_url

    def start(self) -> None:
        if self._thread is not None:
            return
        sock = bind(self.host, self.port)
        self.port = sock.getsockname()[1]
        server = uvicorn.Server(_config(self.app))
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="halfrate-sandbox", daemon=True
        )
        self._server, self._thread = server, thread
        thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                sock.close()
                raise HalfrateError(f"the sandbox could not start on {self.root_url}")
            time.sleep(0.005)
        # uvicorn now owns the socket and closes it on shutdown.

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(timeout=START_TIMEOUT)

    def __enter__(self) -> SandboxServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve(
    host: str = "127.0.0.1",
    port: int = 8787,
    latency: float = 0.0,
    *,
    clock: Callable[[], float] | None = None,
    window: float = WINDOW_SECONDS,
    realtime_latency: float = 0.0,
    token_interval: float = 0.0,
    cancel_latency: float | None = None,
    faults: Faults | str | None = None,
) -> None:
    """Serve the sandbox until interrupted. Raises HalfrateError if it cannot listen, and
    InputError for a bad fault spec (before listening).

    uvicorn handles SIGINT/SIGTERM (graceful shutdown) and then re-raises the signal, so Ctrl-C
    still ends in ``KeyboardInterrupt`` for the caller to turn into an exit code.
    """
    app = create_app(
        latency,
        clock=clock,
        window=window,
        realtime_latency=realtime_latency,
        token_interval=token_interval,
        cancel_latency=cancel_latency,
        faults=faults,
    )
    sock = bind(host, port)
    try:
        uvicorn.Server(_config(app)).run(sockets=[sock])
    finally:
        sock.close()
