"""The live progress display on a terminal, drawn from one :class:`Frame`: a line of rows done
with a bar, the elapsed time and the expected end; a line per live batch with the provider's
own counts; and, while nothing moves, what the worker waits for. Each part is cut to the
terminal's width, never wrapped, so the display keeps its height as it redraws."""

from __future__ import annotations

import atexit
import logging
import sys
from collections.abc import Callable
from typing import IO, Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.padding import Padding
from rich.progress_bar import ProgressBar
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from halfrate.cli.views.progress_text import (
    BatchLine,
    Frame,
    batch_counts,
    batch_name,
    batch_state,
    duration,
    expected,
    more_batches,
    outcome,
    rows_done,
    shown_batches,
    waiting,
)


def live_view(frame: Frame, now: float, spinner: Spinner, indent: str = "") -> RenderableType:
    parts: list[RenderableType] = [_headline(frame, now, spinner)]
    if not frame.finished:
        shown = shown_batches(frame)
        if shown:
            parts.append(_batches(shown))
        rest = more_batches(frame, len(shown))
        if rest:
            parts.append(_line(f"  {rest}"))
        wait = waiting(frame, now)
        if wait:
            parts.append(_line(f"  {wait}", style="yellow"))
    return Padding(Group(*parts), (0, 0, 0, len(indent)))


def _headline(frame: Frame, now: float, spinner: Spinner) -> Table:
    grid = Table.grid(padding=(0, 1), expand=True)
    for _ in range(2):
        grid.add_column(no_wrap=True)
    grid.add_column(ratio=1, min_width=4)  # the bar takes what the words leave
    for _ in range(3):
        grid.add_column(no_wrap=True, justify="right")
    share = frame.done / frame.total if frame.total else 0.0
    if frame.finished:
        mark: RenderableType = Text("✓", style="green")
        last = Text(outcome(frame), overflow="ellipsis")
    else:
        mark = spinner
        last = Text(expected(frame), overflow="ellipsis")
    grid.add_row(
        mark,
        Text(rows_done(frame), style="bold"),
        ProgressBar(total=max(frame.total, 1), completed=frame.done),
        f"{share:.0%}",
        duration((frame.read_at if frame.finished else now) - frame.started_at),
        last,
    )
    return grid


def _batches(shown: tuple[BatchLine, ...]) -> Table:
    grid = Table.grid(padding=(0, 1), expand=True)
    grid.add_column(no_wrap=True)
    grid.add_column(no_wrap=True, style="cyan")
    grid.add_column(ratio=1, min_width=4)
    grid.add_column(no_wrap=True, overflow="ellipsis")
    for batch in shown:
        grid.add_row(
            f"  {batch_name(batch)}",
            batch_state(batch),
            ProgressBar(total=max(batch.requests, 1), completed=batch.answered),
            batch_counts(batch),
        )
    return grid


def _line(text: str, style: str = "") -> Text:
    return Text(text, style=style, no_wrap=True, overflow="ellipsis")


class LiveDisplay:
    """A rich Live on ``console`` redrawing what ``draw`` returns a few times a second (from its
    own thread: ``draw`` must not read the store). What else is written to the same terminal
    meanwhile goes above it, log records included, or it would be drawn over."""

    def __init__(self, console: Console, draw: Callable[[], RenderableType]) -> None:
        self.console = console
        self._live: Live | None = None
        self._draw = draw
        self._restore_logs: list[tuple[logging.StreamHandler[Any], IO[str]]] = []

    def start(self) -> None:
        target = self.console.file
        stdout, stderr = _unproxied(sys.stdout), _unproxied(sys.stderr)
        # A stdout that is a file or a pipe is left alone: it is not on the screen, and what a
        # script reads there must stay there.
        on_err = target is stderr or (target is stdout and _is_tty(stderr))
        on_out = target is stdout or (target is stderr and _is_tty(stdout))
        live = Live(
            console=self.console,
            get_renderable=self._draw,
            refresh_per_second=4,
            redirect_stderr=on_err,
            redirect_stdout=on_out,
        )
        live.start(refresh=True)
        self._live = live
        atexit.register(self.stop)  # a caller that never stops it still gets its cursor back
        if sys.stderr is not stderr:
            # A log handler writes to the stream it was given, not to sys.stderr as it is now:
            # point it through the display's proxy for as long as the display runs.
            for handler in logging.getLogger().handlers:
                if isinstance(handler, logging.StreamHandler) and handler.stream is stderr:
                    self._restore_logs.append((handler, stderr))
                    handler.setStream(sys.stderr)

    def refresh(self) -> None:
        if self._live is not None:
            self._live.refresh()

    def stop(self) -> None:
        """Draw once more and stop; the last drawing stays on the screen. Safe to repeat."""
        live, self._live = self._live, None
        if live is None:
            return
        atexit.unregister(self.stop)
        for handler, stream in self._restore_logs:
            handler.setStream(stream)
        self._restore_logs.clear()
        live.stop()


def _unproxied(stream: IO[str]) -> IO[str]:
    """The stream under a live display's proxy, if there is one."""
    return getattr(stream, "rich_proxied_file", stream)


def _is_tty(stream: IO[str]) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())
