"""Progress of jobs being worked on (`halfrate run`, `halfrate worker`, `halfrate demo`): called
after each worker pass, it reads the store now and then and shows how far the jobs are.

On a terminal it is a live display (redrawn a few times a second, so the clock moves while the
worker sleeps); elsewhere (a log, a pipe, a test) a few plain lines at most every few seconds,
at once when a batch changes state, and the final state. Reads are throttled: the worker waits
for them, and a job can have 100,000 rows.
"""

from __future__ import annotations

import time
from dataclasses import replace
from types import TracebackType

from rich.console import Console, RenderableType
from rich.spinner import Spinner

from halfrate import api
from halfrate.cli.views.progress_live import LiveDisplay, live_view
from halfrate.cli.views.progress_text import BatchLine, Frame, plain_lines

LIVE_READ_SECONDS = 0.25  # a live display reads the store at most this often
PLAIN_READ_SECONDS = 0.5  # plain lines need fresh numbers less often
PLAIN_EVERY_SECONDS = 5.0  # a plain line at most this often while numbers move...
PLAIN_STATE_SECONDS = 1.0  # ...but within this when a batch changes state or a wait begins
PLAIN_HEARTBEAT_SECONDS = 60.0  # and this often while nothing changes, to show it is alive
READ_SHARE = 20  # a read waits at least this many times its own length: ≤5% of the worker
JOBS_SECONDS = 10.0  # following every open job: this often, look for jobs that came since
MIN_RATE_SECONDS = 1.0  # less time than this gives no rate worth an expected end


class JobProgress:
    """The ``on_tick`` of a worker: shows the progress of ``job_ids``, or with ``None`` of every
    job with requests still open (new ones joining as they come). Call :meth:`close` (or use it
    as a context manager) once the worker has stopped: it shows the final state and gives the
    terminal back."""

    def __init__(
        self,
        console: Console,
        hr: api.Halfrate,
        job_ids: tuple[str, ...] | None,
        *,
        indent: str = "",
        live: bool | None = None,
        unit: str = "rows",
    ) -> None:
        self.console = console
        self.hr = hr
        self.indent = indent
        self.unit = unit  # "rows" of a table (`run`), "requests" of a file (`worker`, `demo`)
        self.live = (console.is_terminal and not console.is_dumb_terminal) if live is None else live
        self._follow = job_ids is None
        self._jobs_seen_at = -float("inf")
        self._next_read = 0.0
        self._min_next_read = 0.0
        self._closed = False
        self._display: LiveDisplay | None = None
        self._spinner = Spinner("dots", style="cyan")
        self._drawn: Frame | None = None  # what the live display draws (from its own thread)
        self._reset(job_ids or ())

    @property
    def job_ids(self) -> tuple[str, ...]:
        return self._ids

    @job_ids.setter
    def job_ids(self, ids: tuple[str, ...]) -> None:
        self._follow = False
        self._reset(ids)

    def _reset(self, ids: tuple[str, ...]) -> None:
        """Start over on a new set of jobs: numbers, clock and rate are theirs."""
        self._ids = tuple(ids)
        self._numbers: dict[str, int] = {}  # batch id -> its number, in order first seen
        self._started: float | None = None
        self._base: tuple[float, int] | None = None  # (when, answered) at the first read
        self.frame: Frame | None = None
        self._printed_at = -float("inf")
        self._printed: tuple[object, ...] | None = None
        self._printed_states: tuple[object, ...] | None = None

    def __call__(self, report: api.TickReport | None = None) -> None:
        if self._closed:
            return
        now = time.monotonic()
        # A pass that changed a batch's state is read at once (bounded only by what reads
        # cost): the last batch stored is the end, to be shown as such.
        moved = report is not None and report.did_work
        if now < (self._min_next_read if moved else self._next_read):
            return
        frame = self._read()
        if frame is None:
            return
        if self.live:
            self._show_live(frame)
        else:
            self._show_plain(frame)

    def close(self, *, final: bool = True) -> None:
        """Show where the jobs ended (``final``: read the store once more) and stop the live
        display. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            if final and self.frame is not None:
                frame = self._read(follow=False) or self.frame
                if self._display is not None:
                    self._drawn = frame  # drawn once more as the display stops
                if not self.live:
                    self._show_plain(frame, closing=True)
        finally:
            self._stop_live()

    def __enter__(self) -> JobProgress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # After a failure the store may be what failed: stop the display without reading it.
        self.close(final=exc_type is None)

    # -- reading ---------------------------------------------------------------------------

    def _read(self, *, follow: bool = True) -> Frame | None:
        """A new frame from the store; None when there is nothing (new) to show."""
        started = time.monotonic()
        try:
            if self._follow and follow:
                self._follow_jobs(started)
            # Finished jobs stay finished: no need to count their rows again.
            if not self._ids or (self.frame is not None and self.frame.finished):
                return None
            got = self.hr.progress(self._ids)
        finally:
            took = time.monotonic() - started
            gap = LIVE_READ_SECONDS if self.live else PLAIN_READ_SECONDS
            self._min_next_read = started + READ_SHARE * took
            self._next_read = max(self._min_next_read, started + gap)
        if not got.total:
            return None
        if self._started is None:
            self._started = time.time()
        for batch in got.batches:
            self._numbers.setdefault(batch.id, len(self._numbers) + 1)
        frame = Frame(
            read_at=time.time(),
            started_at=self._started,
            total=got.total,
            done=got.done,
            counts=got.counts,
            batches=tuple(
                BatchLine(
                    number=self._numbers[b.id],
                    provider=b.provider,
                    state=(b.provider_status if b.state == "submitted" else None) or b.state,
                    requests=b.request_count,
                    completed=b.completed_count,
                    failed=b.failed_count,
                    next_check=b.next_poll_at,
                )
                for b in got.batches
            ),
            retrying=got.retry.requests if got.retry else 0,
            retry_at=got.retry.until if got.retry else None,
            retry_reason=got.retry.reason if got.retry else None,
            rate=None,
            unit=self.unit,
        )
        frame = self._with_rate(frame)
        self.frame = frame
        return frame

    def _with_rate(self, frame: Frame) -> Frame:
        """The rate since this display began: the provider's counts move it while a batch
        runs, so an expected end is known long before any result is stored."""
        if self._base is None:
            self._base = (frame.read_at, frame.answered)
            return frame
        since, answered = self._base
        seconds, moved = frame.read_at - since, frame.answered - answered
        if seconds < MIN_RATE_SECONDS or moved <= 0:
            return frame
        return replace(frame, rate=moved / seconds)

    def _follow_jobs(self, now: float) -> None:
        """Every job with open requests: new ones join; once all shown are done, the next
        jobs to come start a display of their own."""
        done = self.frame is not None and self.frame.finished
        # While jobs are under way, new ones are looked for now and then; with none under way
        # at every read (only open requests are looked at: cheap).
        if self._ids and not done and now - self._jobs_seen_at < JOBS_SECONDS:
            return
        self._jobs_seen_at = now
        open_now = self.hr.open_jobs()
        new = [job for job in open_now if job not in self._ids]
        if not new:
            return
        if done:
            self._reset(tuple(open_now))
        else:
            self._ids = (*self._ids, *new)

    # -- showing ---------------------------------------------------------------------------

    def _show_plain(self, frame: Frame, *, closing: bool = False) -> None:
        now = time.monotonic()
        numbers = (frame.done, tuple((b.number, b.state, b.answered) for b in frame.batches))
        changed = (*numbers, frame.retrying, frame.retry_at)
        states = (tuple((b.number, b.state) for b in frame.batches), frame.retrying > 0)
        since = now - self._printed_at
        if closing:
            due = self._printed is not None and changed != self._printed
        elif frame.finished:
            due = changed != self._printed
        else:
            due = (
                (states != self._printed_states and since >= PLAIN_STATE_SECONDS)
                or (changed != self._printed and since >= PLAIN_EVERY_SECONDS)
                or since >= PLAIN_HEARTBEAT_SECONDS
            )
        if not due:
            return
        self._printed_at, self._printed, self._printed_states = now, changed, states
        for line in plain_lines(frame, time.time(), self.indent):
            self.console.print(line, markup=False, highlight=False, emoji=False)

    def _show_live(self, frame: Frame) -> None:
        self._drawn = frame
        if self._display is None:
            if frame.finished and not self._follow:
                return  # nothing left to watch: the caller's summary says the rest
            self._display = LiveDisplay(self.console, self._render)
            self._display.start()
        elif frame.finished and not self._follow:
            self._stop_live()  # its last drawing stays on the screen, with the outcome
            return
        if self._display is not None:
            self._display.refresh()

    def _render(self) -> RenderableType:
        assert self._drawn is not None  # the display starts with its first frame
        return live_view(self._drawn, time.time(), self._spinner, self.indent)

    def _stop_live(self) -> None:
        display, self._display = self._display, None
        if display is not None:
            display.stop()
