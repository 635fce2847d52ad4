"""Writing a batch's input from the store, streamed: memory does not grow with the batch."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from halfrate.private import open_private, private_folder
from halfrate.providers.base import BatchProvider, custom_id_for
from halfrate.records import BatchRecord
from halfrate.store import Store


def write_batch_file(
    store: Store, provider: BatchProvider, batch: BatchRecord, folder: Path
) -> Path:
    """Write the input for ``batch`` in the provider's format to ``folder``; return its path.

    Requests are in request-id order, which is what lets a provider's line-numbered validation
    errors be mapped back to requests.
    """
    private_folder(folder)  # the prompts of the batch: its owner's alone
    path = folder / f"{batch.id}.{'jsonl' if provider.uploads_input else 'json'}"
    partial = path.with_suffix(".partial")
    with open_private(partial) as handle:
        provider.write_input(_lines(store, batch.id), handle)
    os.replace(partial, path)
    return path


def _lines(store: Store, batch_id: str) -> Iterator[tuple[str, str, str]]:
    for request_id, endpoint, body_json in store.queue.iter_lines(batch_id):
        yield custom_id_for(request_id), endpoint, body_json
