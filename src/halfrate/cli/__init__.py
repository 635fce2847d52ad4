"""The command line: ``halfrate`` and its commands. It goes through :mod:`halfrate.api` alone
(and the sandbox, for ``halfrate sandbox`` and ``halfrate demo``)."""

from __future__ import annotations

import gc
import os
import sys

GC_YOUNG_THRESHOLD = 50_000


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
    # halfrate's commands make and keep hundreds of thousands of small objects (parsed lines,
    # rows): with the default threshold the cycle collector runs every 700 allocations and
    # rescans them all, which cost a third of parsing a batch's output. Collections are far
    # rarer here, and the objects of the start-up are set aside for good.
    gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 20)
    gc.freeze()
    run_app(argv)


__all__ = ["main"]
