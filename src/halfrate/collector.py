"""How halfrate's own processes (the command line, the web page's worker) run Python's cycle
collector.

halfrate makes and keeps hundreds of thousands of small objects at a time: the parsed lines of
a batch's output, the rows of a submission. With the default threshold the collector runs every
700 allocations and scans every young object each time, which cost a third of parsing a batch's
output. Here it runs every 50,000, and the objects made while starting up (modules, classes) are
set aside for good, so later collections never scan them. halfrate makes no reference cycles of
its own in the hot paths; what a collection frees is only delayed, not kept.

A program that uses halfrate as a library keeps its own settings: only halfrate's entry points
call :func:`tune_for_bulk_work`.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000
OLDER_THRESHOLD = 20


def tune_for_bulk_work() -> None:
    """Collect cycles every YOUNG_THRESHOLD allocations, and freeze what exists so far."""
    gc.set_threshold(YOUNG_THRESHOLD, OLDER_THRESHOLD, OLDER_THRESHOLD)
    gc.freeze()
