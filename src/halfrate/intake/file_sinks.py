"""File sinks that would overwrite what is not theirs, refused before anything is stored.

A file sink starts its file on its first delivery and then owns it (src/halfrate/sinks/files.py).
So a file that is already there may only be the sink of the same job again (a resubmission); any
other existing file, and above all the file being submitted, is refused with the flag and the
path named: halfrate never truncates a file it did not create for the job.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from halfrate.errors import InputError, NotFound
from halfrate.sinks import SinkSpec
from halfrate.store import Store

FILE_KINDS = ("jsonl", "csv")


def check_file_sinks(
    store: Store, sinks: Sequence[SinkSpec], job: str, source: Path | None = None
) -> None:
    """Refuse a file sink on the submitted file, or on an existing file that is not already
    this job's sink."""
    files = [spec for spec in sinks if spec.kind in FILE_KINDS]
    if not files:
        return
    try:
        job_id = store.reads.find_job(job).id
        own = {row.spec for row in store.deliveries.sinks_of(job_id)}
    except NotFound:
        own = set()
    for spec in files:
        target = Path(spec.target)
        if source is not None and _same_file(target, source):
            raise InputError(
                f"--sink {target}: that is the file being submitted; results go to a file of "
                "their own"
            )
        if spec.text in own:
            continue  # the job's own sink, given again
        if target.exists():
            raise InputError(
                f"--sink {target}: the file exists; a file sink writes a new file and owns it, "
                "so name one that is not there yet (halfrate never overwrites a file it did not "
                "create for the job)"
            )


def _same_file(target: Path, source: Path) -> bool:
    try:
        return os.path.samefile(target, source)
    except OSError:
        return target.resolve() == source.resolve()
