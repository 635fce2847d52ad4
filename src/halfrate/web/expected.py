"""When a job, or a job not yet started, should be finished: the figure the wizard shows beside
each price and the job page beside its progress.

A batch is promised within the providers' 24-hour window (docs/openai-batch.md,
docs/anthropic-batches.md), usually far sooner; realtime answers come as fast as the calls a
worker makes at once allow. A running job is measured by its own pace: rows answered so far
(the provider's counts included while a batch runs) over the time since it started.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from halfrate.api import Progress

BATCH_WINDOW_SECONDS = 24 * 3600  # the providers' completion window for a batch
TYPICAL_CALL_SECONDS = 4.0  # one realtime answer of a few hundred tokens, retries aside
MIN_PACE_SECONDS = 5.0  # less time run than this gives no pace worth a forecast


@dataclass(frozen=True)
class Expected:
    """A moment a job should be finished by, and how sure that is."""

    at: float  # Unix seconds
    at_the_latest: bool  # the batch window's end: the provider's promise, not a forecast

    @property
    def iso(self) -> str:
        """For a ``<time datetime=…>`` the page shows in the reader's own time zone."""
        return datetime.fromtimestamp(self.at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    @property
    def utc(self) -> str:
        """What the page says before its script puts it in the reader's time zone."""
        return datetime.fromtimestamp(self.at, UTC).strftime("%a %d %b %H:%M UTC")


def realtime_seconds(rows: int, concurrency: int) -> float:
    """About how long ``rows`` realtime answers take, ``concurrency`` calls at a time."""
    return math.ceil(rows / max(1, concurrency)) * TYPICAL_CALL_SECONDS


def before_start(rows: int, concurrency: int, now: float) -> tuple[Expected, Expected]:
    """Now and By tomorrow, for a job about to run: (realtime forecast, batch window end)."""
    now_end = Expected(now + realtime_seconds(rows, concurrency), at_the_latest=False)
    return now_end, Expected(now + BATCH_WINDOW_SECONDS, at_the_latest=True)


def while_running(
    progress: Progress, started_at: float, now: float, *, batch: bool
) -> Expected | None:
    """When the rows of a running job should all be answered: at its pace so far, never past
    the batch window for a batch; the window's end while a batch has nothing to show yet.
    None when there is no way to tell (a realtime job that has answered nothing)."""
    finished = progress.answered
    remaining = progress.total - finished
    window_end = started_at + BATCH_WINDOW_SECONDS
    if remaining <= 0:
        return None
    ran = now - started_at
    if finished > 0 and ran >= MIN_PACE_SECONDS:
        at = now + remaining * ran / finished
        if progress.retry is not None:
            at = max(at, progress.retry.until)  # waiting rows cannot end before their retry
        if batch and at >= window_end:
            return Expected(max(now, window_end), at_the_latest=True)
        return Expected(at, at_the_latest=False)
    if batch:
        return Expected(max(now, window_end), at_the_latest=True)
    return None


def about(seconds: float) -> str:
    """A length of time as people say it: 'under a minute', 'about 12 minutes', 'about 3 hours'."""
    minutes = seconds / 60
    if minutes < 1:
        return "under a minute"
    if minutes < 90:
        whole = round(minutes)
        return f"about {whole} minute{'s' if whole != 1 else ''}"
    hours = round(minutes / 60)
    return f"about {hours} hours"
