"""Writing a batch's input file from the store, streamed: memory does not grow with the batch."""

from __future__ import annotations

import os
from pathlib import Path

from halfrate.providers.base import BatchProvider, custom_id_for
from halfrate.store import Store
from halfrate.store.queue import BatchRecord


def write_batch_file(
    store: Store, provider: BatchProvider, batch: BatchRecord, folder: Path
) -> Path:
    """Write the JSONL for ``batch`` to ``folder`` and return its path.

    Lines are in request-id order, which is what lets a provider's line-numbered validation errors
    be mapped back to requests.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{batch.id}.jsonl"
    partial = path.with_suffix(".partial")
    with partial.open("wb") as handle:
        for request_id, endpoint, body_json in store.queue.iter_lines(batch.id):
            handle.write(provider.batch_line(custom_id_for(request_id), endpoint, body_json))
    os.replace(partial, path)
    return path
