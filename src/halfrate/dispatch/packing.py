"""Writing a batch's input from the store, streamed: memory does not grow with the batch."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from halfrate.models import Provider
from halfrate.prefixes import mark_prefix, smallest_group
from halfrate.private import open_private, private_folder
from halfrate.providers.base import BatchProvider, custom_id_for
from halfrate.records import BatchRecord
from halfrate.store import Store

# A batch can take longer than 5 minutes to reach a group's later requests: its markers ask
# the provider to keep the prefix an hour (docs/prompt-caching.md).
BATCH_CACHE_TTL = "1h"


def write_batch_file(
    store: Store, provider: BatchProvider, batch: BatchRecord, folder: Path
) -> Path:
    """Write the input for ``batch`` in the provider's format to ``folder``; return its path.

    Requests are in the store's batch-line order (prefix groups together, then request id),
    which is what lets a provider's line-numbered validation errors be mapped back to requests.
    A prefix shared by enough of the batch's requests to pay for its write (:func:`smallest_group`)
    is marked for the provider's prompt cache where the policy allowed it at submit.
    """
    private_folder(folder)  # the prompts of the batch: its owner's alone
    path = folder / f"{batch.id}.{'jsonl' if provider.uploads_input else 'json'}"
    partial = path.with_suffix(".partial")
    with open_private(partial) as handle:
        provider.write_input(_lines(store, batch), handle)
    os.replace(partial, path)
    return path


def _lines(store: Store, batch: BatchRecord) -> Iterator[tuple[str, str, str]]:
    who = Provider(batch.provider)
    shared = store.batch_input.shared_prefixes(batch.id, smallest_group(who, BATCH_CACHE_TTL))
    for line in store.batch_input.iter_lines(batch.id):
        body = line.body_json
        if line.prefix_key in shared and line.prefix_parts is not None:
            body = mark_prefix(
                who, line.endpoint, body, line.prefix_key, line.prefix_parts, BATCH_CACHE_TTL
            )
        yield custom_id_for(line.request_id), line.endpoint, body
