"""Running the tasks of a validated batch into output-file and error-file bytes.

Pure (apart from pausing the garbage collector): tasks in, JSONL bytes and counts out. Lines
run in a shuffled order, seeded by the batch id, because the real service does not keep input
order (§1.3) and clients must match by custom_id.
A batch stopped early (cancelled, expired) runs only the first ``done`` tasks of that order; the
rest become error-file lines with ``response: null`` and a ``batch_cancelled`` or
``batch_expired`` error (§1.8, §1.9).
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import accumulate

import orjson

from halfrate.sandbox import checks
from halfrate.sandbox.ledger import Row
from halfrate.sandbox.simulate import simulate
from halfrate.sandbox.validation import Task
from halfrate.sandbox.wire import ApiError

STOPPED_MESSAGES = {
    "batch_cancelled": "This request was not executed because the batch was cancelled.",
    "batch_expired": "This request could not be executed before the completion window expired.",
}


@dataclass(frozen=True, slots=True)
class BatchRun:
    output: bytes  # JSONL of successful lines; empty when none succeeded
    errors: bytes  # JSONL of failed and never-run lines; empty when there are none
    completed: int
    failed: int
    input_tokens: int
    output_tokens: int
    rows: list[Row]  # one ledger row per line, in execution order (those that ran first)
    ran: int  # how many of the lines ran (the others were stopped)


def execution_order(batch_id: str, count: int) -> list[int]:
    """Indices of the tasks in the order the sandbox runs them (and writes them out)."""
    order = list(range(count))
    seed = int.from_bytes(hashlib.sha256(batch_id.encode()).digest()[:8], "big")
    random.Random(seed).shuffle(order)
    return order


def success_prefix(url: str, tasks: list[Task], order: list[int]) -> list[int]:
    """``prefix[k]``: how many of the first ``k`` tasks in ``order`` will succeed.

    Lets the batch report moving ``request_counts`` while in progress without running anything.
    """

    def ok(task: Task) -> int:
        try:
            checks.check(url, task.body)
        except ApiError:
            return 0
        return 1

    return [0, *accumulate(ok(tasks[i]) for i in order)]


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


def run_batch(
    batch_id: str,
    url: str,
    tasks: list[Task],
    *,
    created: int,
    done: int | None = None,
    stop_code: str = "batch_cancelled",
) -> BatchRun:
    """Run the first ``done`` tasks (all when None) of the batch's order; the rest are stopped."""
    order = execution_order(batch_id, len(tasks))
    limit = len(order) if done is None else max(0, min(done, len(order)))
    dumps = orjson.dumps
    out: list[bytes] = []
    err: list[bytes] = []
    rows: list[Row] = []
    input_tokens = output_tokens = 0
    key = hashlib.blake2b(batch_id.encode(), digest_size=32).digest()
    with gc_paused():
        for position, index in enumerate(order):
            task = tasks[index]
            # Line and request ids: stable for a given batch and custom_id, random-looking.
            ids = hashlib.blake2b(task.custom_id.encode(), key=key, digest_size=32).hexdigest()
            line_id = "batch_req_" + ids[:32]
            model = task.body.get("model")
            if model.__class__ is not str:  # a line refused for its model has none to bill
                model = None
            if position >= limit:
                rows.append((task.custom_id, stop_code, model, 0, 0, 0, 0))
                err.append(
                    dumps(
                        {
                            "id": line_id,
                            "custom_id": task.custom_id,
                            "response": None,
                            "error": {"code": stop_code, "message": STOPPED_MESSAGES[stop_code]},
                        }
                    )
                )
                continue
            outcome = simulate(url, task.body, created)
            line = dumps(
                {
                    "id": line_id,
                    "custom_id": task.custom_id,
                    "response": {
                        "status_code": outcome.status,
                        "request_id": "req_" + ids[32:],
                        "body": outcome.body,
                    },
                    "error": None,
                }
            )
            if outcome.ok:
                out.append(line)
                input_tokens += outcome.input_tokens
                output_tokens += outcome.output_tokens
                charge = (outcome.input_tokens, outcome.output_tokens)
                rows.append((task.custom_id, outcome.status, model, *charge, 0, 0))
            else:
                err.append(line)
                rows.append((task.custom_id, outcome.status, model, 0, 0, 0, 0))
    return BatchRun(
        output=b"\n".join(out) + b"\n" if out else b"",
        errors=b"\n".join(err) + b"\n" if err else b"",
        completed=len(out),
        failed=len(err),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        rows=rows,
        ran=limit,
    )
