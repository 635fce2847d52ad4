"""`halfrate run`: one prompt over every row of a spreadsheet, as one job.

Each row becomes one request (key ``row-N``) whose message is the prompt with the row's values
put in; the job is named after the file, the prompt and the model, so running the same command
again finds the job already there and submits nothing twice (an interrupted run picks up where
it stopped). Everything is checked, every row, before anything is stored or spent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from halfrate.catalog import provider_of_model
from halfrate.errors import InputError
from halfrate.ledger.estimate import Estimate, check_assumed_output, estimate
from halfrate.models import ANTHROPIC_MESSAGES, Provider, Result
from halfrate.pricing.prices import PriceBook
from halfrate.records import ParsedLine
from halfrate.tabular.results import output_text
from halfrate.tabular.rows import TableFile, open_table
from halfrate.tabular.template import Template

DEFAULT_MODEL = "gpt-4o-mini"
CHAT = "/v1/chat/completions"
CLAUDE_MAX_TOKENS = 1024  # Anthropic requires a limit; a generous one for one cell's answer


@dataclass(frozen=True)
class TablePlan:
    """What `halfrate run` will submit: the table, the prompt over it, and the model."""

    table: TableFile
    template: Template
    model: str
    provider: Provider
    job_name: str
    prompt: str

    @property
    def endpoint(self) -> str:
        return ANTHROPIC_MESSAGES if self.provider is Provider.ANTHROPIC else CHAT

    def body(self, prompt: str) -> dict[str, object]:
        message = [{"role": "user", "content": prompt}]
        if self.provider is Provider.ANTHROPIC:
            return {"model": self.model, "max_tokens": CLAUDE_MAX_TOKENS, "messages": message}
        return {"model": self.model, "messages": message}

    def lines(self, max_line_bytes: int) -> Iterator[ParsedLine]:
        """One request per row, each checked; the first bad row stops it with its number."""
        for row in self.table.rows():
            prompt = self.template.render(row.texts)
            body_json = orjson.dumps(self.body(prompt)).decode()
            if len(body_json.encode()) > max_line_bytes:
                raise InputError(
                    f"{self.table.where(row.number)}: the prompt with this row's values is "
                    f"larger than a request may be ({max_line_bytes:,} bytes)"
                )
            yield ParsedLine(
                row.number, f"row-{row.number}", self.provider, self.endpoint, self.model, body_json
            )


def plan_table(file: str | Path, prompt: str, model: str | None) -> TablePlan:
    """The file's header, the prompt over its columns and the model, all checked."""
    chosen = (model or DEFAULT_MODEL).strip()
    provider = provider_of_model(chosen) if chosen else None
    if provider is None:
        raise InputError(f"--model {chosen!r} is not a model halfrate knows (gpt-…, o3…, claude-…)")
    table = open_table(file)
    template = Template.parse(prompt, table.columns)
    name = _job_name(table.path, prompt, chosen)
    return TablePlan(table, template, chosen, provider, name, prompt)


def _job_name(path: Path, prompt: str, model: str) -> str:
    """The same file, prompt and model: the same job."""
    digest = hashlib.sha256()
    digest.update(f"{model}\n{prompt}\n".encode())
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    except OSError as exc:
        raise InputError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    return f"run-{path.stem[:150]}-{digest.hexdigest()[:10]}"


def estimate_table(
    plan: TablePlan, prices: PriceBook, max_line_bytes: int, output_tokens: int | None = None
) -> Estimate:
    """Tokens and price of the whole job in each lane; reads (and checks) every row.
    ``output_tokens``: the answer length to assume (otherwise the price is a floor)."""
    check_assumed_output(output_tokens)
    made = estimate(plan.lines(max_line_bytes), prices, output_tokens)
    if not made.requests:
        raise InputError(f"{plan.table.path}: no rows with values under the first row")
    return made


def answers_of(plan: TablePlan, results: Iterator[Result]) -> Iterator[tuple[int, list[Any]]]:
    """Each row's number with its answer, status and error, from the job's ``results`` in
    submission order: rows and results are both read in row order, so neither is held in
    memory."""
    if _job_name(plan.table.path, plan.prompt, plan.model) != plan.job_name:
        raise InputError(
            f"{plan.table.path}: the file changed while its job ran; its answers are not "
            "written beside rows they were not asked for: run the command again"
        )
    for row in plan.table.rows():
        result = next(results, None)
        if result is None or result.key != f"row-{row.number}":
            raise InputError(
                f"{plan.table.where(row.number)}: the file changed since it was submitted; "
                "run it again under its new content"
            )
        error = result.error or {}
        message = str(error.get("message") or "") if result.status != "succeeded" else ""
        yield row.number, [output_text(result.response), result.status, message]
    if next(results, None) is not None:
        raise InputError(f"{plan.table.path}: the file lost rows while its job ran")
