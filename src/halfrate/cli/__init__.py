"""The command line: ``halfrate`` and its commands. It goes through :mod:`halfrate.api` alone
(and the sandbox, for ``halfrate sandbox`` and ``halfrate demo``)."""

from __future__ import annotations

import os
import sys

from halfrate.collector import tune_for_bulk_work


def main(argv: list[str] | None = None) -> None:
    """The ``halfrate`` command. The app is imported here, not at the top: importing it takes
    about a second, and Ctrl-C in that second must end in one line and code 130, as anywhere
    else, not in a traceback."""
    try:
        from halfrate.cli.app import main as run_app
    except KeyboardInterrupt:
        print("halfrate: error: interrupted", file=sys.stderr)
        sys.stderr.flush()
        # Not sys.exit: an interrupt that came during an import can make the interpreter end
        # by SIGINT on its way out (exit -2); nothing else is running yet, so leave at once.
        os._exit(130)
    run_app(argv)


def script() -> None:
    """The ``halfrate`` program (and ``python -m halfrate``): :func:`main` in a process of its
    own, with the cycle collector tuned for bulk work (see halfrate.collector). Tests that run
    :func:`main` inside their own process keep that process's settings."""
    tune_for_bulk_work()
    main()


__all__ = ["main", "script"]
