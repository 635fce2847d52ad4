"""Running the requests of a Message Batch into its results JSONL.

See docs/anthropic-batches.md#results-jsonl.

Requests run in a shuffled order seeded by the batch id (as the real service does not keep
input order), and the results are written in that order. Each request is checked when it runs,
as Anthropic validates batch requests asynchronously: a bad ``params`` becomes an ``errored``
result, never a failed create. A batch stopped early (cancelled, expired) runs only the first
``done`` requests of the order; the rest are ``canceled`` or ``expired`` results. Injected line
faults (:mod:`halfrate.sandbox.faults.dice`) are applied here, at no cost per request when there
are none. A ``line_schema_break`` request succeeds with an answer that breaks its schema; on a
plain request (or one refused anyway) it does nothing and is not named on the ledger.

The prompt cache is the one shared state touched: request ``k`` of the order runs at
``start + (k + 1) * step`` on the app clock, and looks its prefix up at that time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

import orjson

from halfrate.sandbox.anthropic.checks import check_params
from halfrate.sandbox.anthropic.fault_answers import anthropic_line_error
from halfrate.sandbox.anthropic.prompt_cache import PromptCache, measure
from halfrate.sandbox.anthropic.simulate import message
from halfrate.sandbox.anthropic.wire import AnthropicError, base62
from halfrate.sandbox.common.batching import execution_order, gc_paused
from halfrate.sandbox.common.jsondata import JSON
from halfrate.sandbox.common.ledger import Row
from halfrate.sandbox.faults.dice import FAILING_LINE_FAULTS

RESULT_TYPES = ("succeeded", "errored", "canceled", "expired")


@dataclass(frozen=True, slots=True)
class MessageBatchRun:
    results: bytes  # JSONL, one line per request (but for injected missing or duplicate ones)
    counts: dict[str, int]  # succeeded, errored, canceled, expired: they add up to the requests
    rows: list[Row]  # ledger rows in execution order; the first ``ran`` ran
    row_faults: dict[int, str] | None = None  # by position in rows: the fault that shaped it


def run_requests(
    batch_id: str,
    requests: list[tuple[str, JSON]],
    version: str,
    cache: PromptCache,
    *,
    start: float,
    step: float,
    done: int | None = None,
    stop: str = "canceled",
    hits: Mapping[int, str] | None = None,
    stop_fault: str | None = None,
    order_key: str | None = None,
) -> MessageBatchRun:
    """Run the first ``done`` requests (all when None) of the batch's order; stop the rest.

    ``hits``: the line faults by request index (:meth:`FaultDice.lines`). A missing request has
    no result line but is counted ``errored``: the counts always add up to the batch's requests
    (docs/anthropic-batches.md), which is how a client recognises its batch by size. A failing
    one is ``errored`` with the fault's error, without running (nor touching the prompt
    cache); a duplicated one's line is written again after all the others. ``stop_fault``:
    the batch fault to name on the ledger for stopped requests. ``order_key``: what seeds the
    order instead of the batch id (:meth:`BatchPlan.order_key`).
    """
    order = execution_order(order_key or batch_id, len(requests))
    limit = len(order) if done is None else max(0, min(done, len(order)))
    counts = dict.fromkeys(RESULT_TYPES, 0)
    lines: list[bytes] = []
    again: list[bytes] = []
    rows: list[Row] = []
    row_faults: dict[int, str] = {}
    dumps = orjson.dumps
    key = hashlib.blake2b(batch_id.encode(), digest_size=32).digest()
    stopped = {"type": stop}
    with gc_paused():
        for position, index in enumerate(order):
            custom_id, params = requests[index]
            model = params.get("model")
            if model.__class__ is not str:  # a request refused for its model has none to bill
                model = None
            fault = hits.get(index) if hits else None
            if fault == "missing_lines":
                row_faults[position] = fault
                counts["errored"] += 1
                rows.append((custom_id, "missing", model, 0, 0, 0, 0))
                continue
            if position >= limit:
                if fault == "duplicate_lines":
                    row_faults[position] = fault
                elif stop_fault is not None:
                    row_faults[position] = stop_fault
                counts[stop] += 1
                rows.append((custom_id, stop, model, 0, 0, 0, 0))
                line = dumps({"custom_id": custom_id, "result": stopped})
                lines.append(line)
                if fault == "duplicate_lines":
                    again.append(line)
                continue
            try:
                if fault in FAILING_LINE_FAULTS:
                    raise anthropic_line_error(fault)
                checked = check_params(params, version, in_batch=True)
            except AnthropicError as exc:
                if fault == "line_schema_break":
                    fault = None  # refused anyway: no answer to break
                seed = hashlib.blake2b(custom_id.encode(), key=key, digest_size=16).digest()
                request_id = "req_011" + base62(seed, 21)
                result: JSON = {"type": "errored", "error": exc.body(request_id)}
                counts["errored"] += 1
                rows.append((custom_id, "errored", model, 0, 0, 0, 0))
            else:
                if fault == "line_schema_break" and checked.schema is None:
                    fault = None  # a plain request: answered as it would be
                use = cache.use(measure(checked.model, params), start + (position + 1) * step)
                broken = fault == "line_schema_break"
                answer = message(params, checked, use, "batch", broken=broken)
                result = {"type": "succeeded", "message": answer.body}
                counts["succeeded"] += 1
                charge = (use.input_tokens, answer.output_tokens, use.read, use.write)
                rows.append((custom_id, "succeeded", model, *charge))
            if fault is not None:
                row_faults[position] = fault
            line = dumps({"custom_id": custom_id, "result": result})
            lines.append(line)
            if fault == "duplicate_lines":
                again.append(line)
    lines += again
    results = b"\n".join(lines) + b"\n" if lines else b""
    return MessageBatchRun(results, counts, rows, row_faults or None)
