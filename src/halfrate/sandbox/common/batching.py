"""What both providers' batches share: the completion window and how a batch's lines run.

Both run their lines in a shuffled order seeded by the batch id (neither service keeps input
order, so clients match results by ``custom_id``), with the garbage collector paused.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import random
from collections.abc import Iterator

WINDOW_SECONDS = 24 * 3600


def execution_order(batch_id: str, count: int) -> list[int]:
    """Indices of the tasks in the order the sandbox runs them (and writes them out)."""
    order = list(range(count))
    seed = int.from_bytes(hashlib.sha256(batch_id.encode()).digest()[:8], "big")
    random.Random(seed).shuffle(order)
    return order


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a batch runs.

    A run allocates hundreds of thousands of small dicts that are all garbage-free; the
    collector's repeated passes over them cost about a tenth of the run time. The pause is
    process-wide but lasts only as long as the run (a few seconds for 50,000 lines).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
