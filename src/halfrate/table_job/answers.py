"""Each row's answer, as the cells `halfrate run` writes beside it.

A row's cells are its answer (one column, or one per field of a structured answer), its
``status`` (``succeeded``, ``failed``, ``pending``, ``cancelled``) and its ``error``. A
structured answer that does not parse or does not fit its columns, an answer cut at the length
limit before its JSON closed, and a refusal are all ``failed``, with the reason in ``error``:
the provider was paid for them, but the row has no usable answer, so `--retry-failed` sends it
again.

A run's rows may have been answered by more than one job: the run, then each rerun of its
failed rows (``--retry-failed``). The latest job that asked a row gives its cells. Every job's
results come in row order, like the rows, so they are merged as streams and nothing is held in
memory.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from halfrate.errors import InputError
from halfrate.models import FINAL_REQUEST_STATES, RequestState, Result
from halfrate.table_job.plan import TableOptions, TablePlan
from halfrate.tabular.results import output_text

PENDING = "pending"  # the status column of a row whose request has not ended
FAILED = RequestState.FAILED.value
SUCCEEDED = RequestState.SUCCEEDED.value


def row_cells(options: TableOptions, result: Result) -> list[Any]:
    """The added cells of one row: answer column(s), status, error."""
    width = len(options.answer_columns)
    if result.status not in FINAL_REQUEST_STATES:
        return [*[""] * width, PENDING, ""]
    if result.status != SUCCEEDED:
        error = result.error or {}
        return [*[""] * width, result.status, str(error.get("message") or "")]
    text = output_text(result.response)
    if options.columns is None:
        return [text, SUCCEEDED, ""]
    refused = _refusal(result.response)
    if refused is not None:
        return [*[""] * width, FAILED, f"the model declined to answer: {refused}"]
    values, problem = options.columns.read(text)
    if problem and _was_cut(result.response):
        problem = (
            f"the answer was cut at {options.max_tokens:,} tokens (--max-tokens) before it "
            "was complete"
        )
    return [*values, FAILED if problem else SUCCEEDED, problem]


def answers_of(
    plan: TablePlan, results: Iterator[Result], reruns: Sequence[Iterator[Result]] = ()
) -> Iterator[tuple[int, list[Any]]]:
    """Each row's number with its added cells, from the run's ``results`` and its ``reruns``'
    (oldest first), all in submission order. Refused when the file changed since."""
    if plan.content_changed():
        raise InputError(
            f"{plan.table.path}: the file changed while its job ran; its answers are not "
            "written beside rows they were not asked for: run the command again"
        )
    later = [_Peeking(rerun) for rerun in reruns]
    for row in plan.table.rows():
        key = f"row-{row.number}"
        result = next(results, None)
        if result is None or result.key != key:
            raise InputError(
                f"{plan.table.where(row.number)}: the file changed since it was submitted; "
                "run it again under its new content"
            )
        for rerun in later:
            result = rerun.take(key) or result
        yield row.number, row_cells(plan.options, result)
    if next(results, None) is not None:
        raise InputError(f"{plan.table.path}: the file lost rows while its job ran")


def failed_rows(
    plan: TablePlan, results: Iterator[Result], reruns: Sequence[Iterator[Result]] = ()
) -> tuple[frozenset[int], int]:
    """The rows whose latest answer failed, and how many rows have not ended yet."""
    failed: set[int] = set()
    pending = 0
    status_at = len(plan.options.answer_columns)
    for number, cells in answers_of(plan, results, reruns):
        if cells[status_at] == FAILED:
            failed.add(number)
        elif cells[status_at] == PENDING:
            pending += 1
    return frozenset(failed), pending


class _Peeking:
    """A rerun's results, taken one by one as the rows they answer come up."""

    def __init__(self, results: Iterator[Result]) -> None:
        self._results = results
        self._next = next(results, None)

    def take(self, key: str) -> Result | None:
        if self._next is None or self._next.key != key:
            return None
        found, self._next = self._next, next(self._results, None)
        return found


def _refusal(response: dict[str, Any] | None) -> str | None:
    if not response:
        return None
    if response.get("stop_reason") == "refusal":
        return output_text(response) or "(no reason given)"
    choices = response.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        message = choices[0].get("message")
        if isinstance(message, dict) and message.get("refusal"):
            return str(message["refusal"])
    return None


def _was_cut(response: dict[str, Any] | None) -> bool:
    if not response:
        return False
    if response.get("stop_reason") == "max_tokens":
        return True
    choices = response.get("choices")
    first = choices[0] if isinstance(choices, list) and choices else None
    return isinstance(first, dict) and first.get("finish_reason") == "length"
