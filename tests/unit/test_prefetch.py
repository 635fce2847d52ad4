"""The parse-ahead helper: order, bounded look-ahead, errors, and early exit."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from halfrate.dispatch.prefetch import Prefetch


class Source:
    def __init__(self, n: int, fail_at: int | None = None) -> None:
        self.n = n
        self.fail_at = fail_at
        self.produced = 0
        self.closed = threading.Event()

    def __iter__(self) -> Iterator[int]:
        return self

    def __next__(self) -> int:
        if self.fail_at is not None and self.produced == self.fail_at:
            raise ValueError(f"broken line {self.produced}")
        if self.produced >= self.n:
            raise StopIteration
        self.produced += 1
        return self.produced

    def close(self) -> None:
        self.closed.set()


def test_items_arrive_in_order_and_the_source_is_closed() -> None:
    source = Source(50)
    with Prefetch(source) as items:
        assert list(items) == list(range(1, 51))
    assert source.closed.is_set()


def test_the_producer_runs_at_most_a_little_ahead() -> None:
    source = Source(100)
    with Prefetch(source) as items:
        assert next(items) == 1
        time.sleep(0.3)
        # one handed over, one waiting in the queue, one blocked on put: bounded memory
        assert source.produced <= 3
        assert list(items)[-1] == 100


def test_a_producer_error_is_raised_in_the_consumer() -> None:
    source = Source(10, fail_at=4)
    with pytest.raises(ValueError, match="broken line 4"), Prefetch(source) as items:
        assert list(items) == [1, 2, 3, 4]
    assert source.closed.is_set()


def consume_one_then_fail(source: Source) -> None:
    with Prefetch(source) as items:
        next(items)
        raise RuntimeError("the store failed")


def test_leaving_early_stops_the_producer_and_closes_the_source() -> None:
    source = Source(1_000_000)
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="the store failed"):
        consume_one_then_fail(source)
    assert source.closed.wait(5)
    assert source.produced < 10
    assert time.monotonic() - started < 5
