"""The command line's one place for consoles: what a script reads goes to stdout, progress and
notes to stderr."""

from __future__ import annotations

import sys

from rich.console import Console


def stdout_console() -> Console:
    """Piped output (scripts, files) gets a wide page so tables keep whole ids on one line."""
    return Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)


def stderr_console() -> Console:
    return Console(highlight=False, soft_wrap=True, stderr=True)
