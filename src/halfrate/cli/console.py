"""The command line's one place for consoles: what a script reads goes to stdout, progress and
notes to stderr."""

from __future__ import annotations

import sys

from rich.console import Console


def stdout_console() -> Console:
    """Piped output (scripts, files) gets a wide page so tables keep whole ids on one line, and
    long lines stay whole; a terminal wraps them between words at its own width."""
    terminal = sys.stdout.isatty()
    return Console(highlight=False, soft_wrap=not terminal, width=None if terminal else 200)


def stderr_console() -> Console:
    return Console(highlight=False, soft_wrap=True, stderr=True)
