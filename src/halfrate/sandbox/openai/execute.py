"""Running the tasks of a validated batch into output-file and error-file bytes.

Pure (apart from pausing the garbage collector): tasks in, JSONL bytes and counts out. Lines
run in a shuffled order, seeded by the batch id, because the real service does not keep input
order (docs/openai-batch.md#the-batch-input-file) and clients must match by custom_id.
A batch stopped early (cancelled, expired) runs only the first ``done`` tasks of that order; the
rest become error-file lines with ``response: null`` and a ``batch_cancelled`` or
``batch_expired`` error (docs/openai-batch.md#output-and-error-files and
#expiry-and-cancellation). Injected line faults (:mod:`halfrate.sandbox.faults.dice`) are
applied here, at no cost per line when there are none. ``line_schema_break`` lines succeed with
an answer that breaks their schema; on a plain line (or one refused anyway) it does nothing and
is not named on the ledger.

The prompt cache is the one shared state touched: line ``k`` of the order runs at
``start + (k + 1) * step`` on the app clock and reads what earlier lines (of this batch or any
earlier request) wrote, within their TTL. A line that fails without running does not touch it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import accumulate

import orjson

from halfrate.sandbox.common.batching import execution_order, gc_paused
from halfrate.sandbox.common.ledger import Row
from halfrate.sandbox.faults.dice import FAILING_LINE_FAULTS
from halfrate.sandbox.openai import checks
from halfrate.sandbox.openai.fault_answers import OPENAI_LINE_ERRORS
from halfrate.sandbox.openai.formats import is_structured
from halfrate.sandbox.openai.prompt_cache import PromptCache
from halfrate.sandbox.openai.simulate import Outcome, simulate
from halfrate.sandbox.openai.validation import Task
from halfrate.sandbox.openai.wire import ApiError

# The line faults under which a line does not succeed: it fails without running, or goes missing.
UNANSWERED = FAILING_LINE_FAULTS | {"missing_lines"}
STOPPED_MESSAGES = {
    "batch_cancelled": "This request was not executed because the batch was cancelled.",
    "batch_expired": "This request could not be executed before the completion window expired.",
}


@dataclass(frozen=True, slots=True)
class BatchRun:
    output: bytes  # JSONL of successful lines; empty when none succeeded
    errors: bytes  # JSONL of failed and never-run lines; empty when there are none
    completed: int  # successful lines (a duplicated line counts once)
    failed: int  # failed and stopped lines (a duplicated line counts once)
    input_tokens: int
    output_tokens: int
    cached_tokens: int  # the part of input_tokens read from the prompt cache
    cache_write_tokens: int  # the part written to it (the models that bill writes)
    rows: list[Row]  # one ledger row per line, in execution order (those that ran first)
    ran: int  # how many of the lines ran (the others were stopped)
    row_faults: dict[int, str] | None = None  # by position in rows: the fault that shaped it


def success_prefix(
    url: str, tasks: list[Task], order: list[int], hits: Mapping[int, str] | None = None
) -> list[int]:
    """``prefix[k]``: how many of the first ``k`` tasks in ``order`` will succeed.

    Lets the batch report moving ``request_counts`` while in progress without running anything.
    ``hits``: the line faults by task index; a failing or missing line does not succeed.
    """

    def ok(index: int) -> int:
        if hits and hits.get(index) in UNANSWERED:
            return 0
        try:
            checks.check(url, tasks[index].body)
        except ApiError:
            return 0
        return 1

    return [0, *accumulate(ok(i) for i in order)]


def missing_prefix(order: list[int], hits: Mapping[int, str] | None) -> list[int] | None:
    """``prefix[k]``: how many of the first ``k`` tasks in ``order`` are missing lines, which
    ``request_counts`` counts neither completed nor failed; None when there are none."""
    if not hits or "missing_lines" not in hits.values():
        return None
    return [0, *accumulate(int(hits.get(i) == "missing_lines") for i in order)]


def run_batch(
    batch_id: str,
    url: str,
    tasks: list[Task],
    *,
    created: int,
    done: int | None = None,
    stop_code: str = "batch_cancelled",
    hits: Mapping[int, str] | None = None,
    stop_fault: str | None = None,
    order_key: str | None = None,
    cache: PromptCache | None = None,
    start: float = 0.0,
    step: float = 0.0,
) -> BatchRun:
    """Run the first ``done`` tasks (all when None) of the batch's order; the rest are stopped.

    ``hits``: the line faults by task index (:meth:`FaultDice.lines`). A missing line is written
    nowhere; a failing one is an error-file line with the fault's status and error body, without
    running; a duplicated one is written a second time after all the others. ``stop_fault``:
    the batch fault to name on the ledger for the stopped lines. ``order_key``: what seeds the
    order instead of the batch id (see :meth:`BatchPlan.order_key`). ``cache``: the app's
    prompt cache, read and written by each line that runs, at ``start + (k + 1) * step``.
    """
    order = execution_order(order_key or batch_id, len(tasks))
    limit = len(order) if done is None else max(0, min(done, len(order)))
    dumps = orjson.dumps
    out: list[bytes] = []
    err: list[bytes] = []
    rows: list[Row] = []
    again: tuple[list[bytes], list[bytes]] = ([], [])  # duplicates of output and error lines
    row_faults: dict[int, str] = {}
    input_tokens = output_tokens = cached_tokens = written_tokens = 0
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
            fault = hits.get(index) if hits else None
            if fault == "missing_lines":
                row_faults[position] = fault
                rows.append((task.custom_id, "missing", model, 0, 0, 0, 0))
                continue
            if position >= limit:
                if fault == "duplicate_lines":
                    row_faults[position] = fault
                elif stop_fault is not None:
                    row_faults[position] = stop_fault
                rows.append((task.custom_id, stop_code, model, 0, 0, 0, 0))
                line = dumps(
                    {
                        "id": line_id,
                        "custom_id": task.custom_id,
                        "response": None,
                        "error": {"code": stop_code, "message": STOPPED_MESSAGES[stop_code]},
                    }
                )
                err.append(line)
                if fault == "duplicate_lines":
                    again[1].append(line)
                continue
            if fault in FAILING_LINE_FAULTS:
                outcome = Outcome(*OPENAI_LINE_ERRORS[fault])
            else:
                broken = fault == "line_schema_break"
                at = start + (position + 1) * step
                outcome = simulate(url, task.body, created, broken=broken, cache=cache, at=at)
                if broken and not (outcome.ok and is_structured(url, task.body)):
                    fault = None  # nothing to break: the line is answered as it would be
            if fault is not None:
                row_faults[position] = fault
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
                cached_tokens += outcome.cached_tokens
                written_tokens += outcome.cache_write_tokens
                charge = (
                    outcome.input_tokens,
                    outcome.output_tokens,
                    outcome.cached_tokens,
                    outcome.cache_write_tokens,
                )
                rows.append((task.custom_id, outcome.status, model, *charge))
            else:
                err.append(line)
                rows.append((task.custom_id, outcome.status, model, 0, 0, 0, 0))
            if fault == "duplicate_lines":
                again[0 if outcome.ok else 1].append(line)
    completed, failed = len(out), len(err)
    out += again[0]
    err += again[1]
    return BatchRun(
        output=b"\n".join(out) + b"\n" if out else b"",
        errors=b"\n".join(err) + b"\n" if err else b"",
        completed=completed,
        failed=failed,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cached_tokens=cached_tokens,
        cache_write_tokens=written_tokens,
        rows=rows,
        ran=limit,
        row_faults=row_faults or None,
    )
