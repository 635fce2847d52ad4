"""A worker in a process of its own, for a program that also answers people (the web page).

A worker's passes are Python work (packing lines, parsing tens of thousands of results,
writing them): in the same process as a web server they take the interpreter from the pages,
which then answer in hundreds of milliseconds instead of tens. In a child process they only
share the store, which several workers share safely anyway (leases, docs/architecture.md).

The child is started fresh (``spawn``: nothing of the parent's threads or connections is
copied) with the parent's settings, routing policy and prices, so it works exactly as
the parent would. It stops when asked, when its parent goes away, and is started again (after
a pause that grows) if it dies.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnProcess

from halfrate import logs
from halfrate.api.connection import Halfrate
from halfrate.collector import tune_for_bulk_work
from halfrate.config import Settings
from halfrate.dispatch import RunMode
from halfrate.errors import HalfrateError
from halfrate.pricing.prices import PriceBook
from halfrate.routing.rules import Policy
from halfrate.store import Store

log = logging.getLogger("halfrate.worker")

STOP_SECONDS = 30.0  # a pass under way may finish its step; past this the child is ended
PARENT_CHECK_SECONDS = 1.0  # how often the child looks whether its parent is still there
RESTART_FIRST_SECONDS = 1.0  # the pause before starting a dead worker again...
RESTART_MAX_SECONDS = 60.0  # ...doubling each time it dies young, up to this
HEALTHY_SECONDS = 60.0  # a worker that ran this long before dying starts again at once
EXIT_FAILED = 2  # the child's exit code after an error it could name


class WorkerProcess:
    """``hr``'s worker, run forever in a child process: :meth:`start`, then :meth:`stop`."""

    def __init__(self, hr: Halfrate) -> None:
        # Explicit SDK clients given to ``hr`` stay here: the child makes its own from the
        # settings and the environment, as `halfrate worker` would.
        verbose = logging.getLogger().getEffectiveLevel() <= logging.INFO
        self._args = (hr.settings, hr.policy, hr.store.prices, verbose)
        self._context = multiprocessing.get_context("spawn")
        # A pipe, not a shared Event, says "stop": a child that dies while waiting on an Event
        # leaves its lock held and the parent's set() waits forever. A pipe also tells the
        # child when the parent is gone (end of file).
        self._stop_reader, self._stop_writer = self._context.Pipe(duplex=False)
        self._stopping = threading.Event()
        self._restarting = threading.Event()
        self._process: SpawnProcess | None = None
        self._watcher: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        self._process = self._spawn()
        self._watcher = threading.Thread(
            target=self._watch, name="halfrate-worker-watch", daemon=True
        )
        self._watcher.start()

    def stop(self, timeout: float = STOP_SECONDS) -> None:
        """Ask the worker to stop after its current step; end it if it has not by ``timeout``.
        Work it had started is safe either way: its leases run out and another worker goes on."""
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._stop_writer.send_bytes(b"stop")
        if self._watcher is not None:
            self._watcher.join(timeout=timeout)
        process = self._process
        if process is None:
            return
        process.join(timeout=timeout)
        if process.is_alive():
            log.warning("the worker process did not stop within %.0f s: ending it", timeout)
            process.terminate()
            process.join(timeout=5)

    def restart(self) -> None:
        """Start the worker afresh after its current step, so it reads what changed in the
        store that it reads only at start (the provider keys saved on the Keys page)."""
        if self._process is None or self._stopping.is_set():
            return
        self._restarting.set()
        with contextlib.suppress(OSError):
            self._stop_writer.send_bytes(b"restart")

    def _spawn(self) -> SpawnProcess:
        process = self._context.Process(
            target=_work,
            args=(*self._args, self._stop_reader, os.getpid()),
            name="halfrate-worker",
            daemon=True,
        )
        process.start()
        return process

    def _watch(self) -> None:
        """Start the worker again when it dies while it should be running."""
        pause = RESTART_FIRST_SECONDS
        started = time.monotonic()
        while not self._stopping.is_set():
            process = self._process
            assert process is not None
            process.join(timeout=1.0)
            if process.is_alive() or self._stopping.is_set():
                continue
            if self._restarting.is_set():  # asked for: no pause, no warning
                self._restarting.clear()
                log.info("the worker process restarts to read new settings")
                started = time.monotonic()
                self._process = self._spawn()
                continue
            ran = time.monotonic() - started
            pause = RESTART_FIRST_SECONDS if ran >= HEALTHY_SECONDS else pause
            log.warning(
                "the worker process ended (exit code %s) after %.0f s: starting it again in %.0f s",
                process.exitcode,
                ran,
                pause,
            )
            if self._stopping.wait(pause):
                return
            pause = min(RESTART_MAX_SECONDS, pause * 2)
            started = time.monotonic()
            self._process = self._spawn()


def _work(
    settings: Settings,
    policy: Policy,
    prices: PriceBook,
    verbose: bool,
    stop: Connection,
    parent: int,
) -> None:
    """The child: a worker until ``stop`` says so or the parent process is gone."""
    logs.configure(verbose)  # its own logging, with keys masked like the parent's
    tune_for_bulk_work()  # a process of halfrate's own, as the command line's (collector.py)
    # Ctrl-C in the terminal reaches the whole process group: the parent decides when its
    # worker stops (after the current step), so the child does not die mid-step on it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stopping = threading.Event()

    def watch_parent() -> None:
        # A message or the end of the pipe (the parent closed it, or died) both mean stop. The
        # message is read, so the worker started after a restart does not see it again.
        while not stop.poll(PARENT_CHECK_SECONDS):
            if os.getppid() != parent:
                break
        with contextlib.suppress(EOFError, OSError):
            stop.recv_bytes()
        stopping.set()

    threading.Thread(target=watch_parent, name="halfrate-parent-watch", daemon=True).start()
    try:
        store = Store.open(settings.resolved_database_url, prices=prices)
        with Halfrate(settings, store, policy=policy) as hr:
            hr.run_worker(RunMode.FOREVER, stop=stopping)
    except HalfrateError as exc:
        # One line (keys masked by the log filter), not a traceback: the parent starts the
        # worker again after a pause, and the cause (a key, the network) may pass.
        log.error("the worker stopped: %s", exc)
        sys.exit(EXIT_FAILED)
