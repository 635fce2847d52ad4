"""Nearest-rank percentiles, of sorted values or of a histogram (the rollups keep timings as
histograms of two-significant-digit buckets, :func:`halfrate.store.rollup.bucket_ms`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Percentiles:
    count: int
    p50: float | None
    p95: float | None

    @classmethod
    def of(cls, ordered: Sequence[float]) -> Percentiles:
        """Nearest-rank percentiles of already sorted values."""
        return cls.of_histogram([(value, 1) for value in ordered])

    @classmethod
    def of_histogram(cls, buckets: Sequence[tuple[float, int]]) -> Percentiles:
        """Nearest-rank percentiles of (value, count) pairs in order of value."""
        total = sum(n for _, n in buckets)
        return cls(total, _rank(buckets, total, 0.50), _rank(buckets, total, 0.95))


def _rank(buckets: Sequence[tuple[float, int]], total: int, q: float) -> float | None:
    """The value at rank ceil(q * total) (1-based), as nearest-rank percentiles define it."""
    if not total:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for value, n in buckets:
        seen += n
        if seen >= rank:
            return value
    return buckets[-1][0]
