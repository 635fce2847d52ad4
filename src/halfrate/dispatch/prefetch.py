"""Producing the next chunk while the current one is stored.

Parsing a batch's output is Python work; storing it is mostly SQLite's C code, which releases the
GIL. Running them in two threads overlaps the two, which shortens ingestion of big batches.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")
_POLL_SECONDS = 0.1


class _Done:
    pass


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class Prefetch(Generic[T]):
    """Iterate ``source`` in a background thread, at most one item ahead of the consumer.

    Use as a context manager: leaving it early (an error while storing) stops the producer,
    which closes the source (and so its HTTP stream) in its own thread.
    """

    def __init__(self, source: Iterator[T], name: str = "halfrate-prefetch") -> None:
        self._source = source
        self._queue: queue.Queue[T | _Done | _Failed] = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, name=name, daemon=True)

    def __enter__(self) -> Iterator[T]:
        self._thread.start()
        return self._consume()

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _produce(self) -> None:
        item: T | _Done | _Failed
        try:
            for item in self._source:
                if not self._put(item):
                    return
            item = _Done()
        except BaseException as exc:  # handed to the consumer, which re-raises it
            item = _Failed(exc)
        finally:
            close = getattr(self._source, "close", None)
            if callable(close):
                close()
        self._put(item)

    def _put(self, item: T | _Done | _Failed) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def _consume(self) -> Iterator[T]:
        while True:
            item = self._queue.get()
            if isinstance(item, _Done):
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item
