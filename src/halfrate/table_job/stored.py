"""What a `halfrate run` job remembers of its table: the file, the prompt and the options, as
JSON kept with the job. From it the table is planned again later: to write its answers
(`halfrate results JOB -o FILE`) and to rerun the rows that failed (`--retry-failed`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from halfrate.errors import InputError
from halfrate.structured import AnswerShape
from halfrate.table_job.plan import TableOptions, TablePlan, plan_table

VERSION = 1


@dataclass(frozen=True)
class StoredPlan:
    path: Path
    prompt: str
    options: TableOptions
    asked: str  # the plan's asked digest: the same question over the same file
    rerun_of: str | None  # the job whose failed rows this job asked again

    def plan(self) -> TablePlan:
        """The table planned again from its file as it is now."""
        if not self.path.exists():
            raise InputError(f"{self.path}: the table this job answered is no longer there")
        return plan_table(self.path, self.prompt, self.options)


def plan_record(plan: TablePlan, rerun_of: str | None = None) -> str:
    o = plan.options
    record: dict[str, Any] = {
        "version": VERSION,
        "path": str(plan.table.path.resolve()),
        "prompt": plan.prompt,
        "asked": plan.asked_digest,
        "model": o.model,
        "system": o.system,
        "max_tokens": o.max_tokens,
        "temperature": o.temperature,
        "sheet": o.sheet,
        "schema": o.columns.schema if o.columns is not None else None,
        "rerun_of": rerun_of,
    }
    return orjson.dumps(record).decode()


def stored_plan(text: str) -> StoredPlan:
    record = orjson.loads(text)
    schema = record["schema"]
    options = TableOptions(
        model=record["model"],
        system=record["system"],
        max_tokens=record["max_tokens"],
        temperature=record["temperature"],
        sheet=record["sheet"],
        columns=AnswerShape.from_schema(schema) if schema is not None else None,
    )
    return StoredPlan(
        Path(record["path"]), record["prompt"], options, record["asked"], record["rerun_of"]
    )
