"""What `halfrate run` asks: one prompt over every row of a spreadsheet, as one job.

Each row becomes one request (key ``row-N``) whose message is the prompt with the row's values
put in, under the same instructions, model and answer length for every row. The job is named
after the file's content and everything asked of it, so running the same command again finds
the job already there and submits nothing twice (an interrupted run picks up where it stopped).
Everything is checked, every row, before anything is stored or spent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from halfrate.catalog import DEFAULT_MAX_TOKENS, DEFAULT_MODEL, provider_of_model
from halfrate.errors import InputError
from halfrate.ledger.estimate import Estimate, check_assumed_output, estimate
from halfrate.models import ANTHROPIC_MESSAGES, Provider
from halfrate.pricing.prices import PriceBook
from halfrate.records import ParsedLine
from halfrate.structured import AnswerShape
from halfrate.tabular.rows import TableFile, open_table
from halfrate.tabular.template import Template

CHAT = "/v1/chat/completions"
MAX_MAX_TOKENS = 128_000
MAX_SYSTEM_CHARS = 100_000


@dataclass(frozen=True)
class TableOptions:
    """What is asked of every row, besides the prompt."""

    model: str = DEFAULT_MODEL
    system: str | None = None
    max_tokens: int = DEFAULT_MAX_TOKENS
    temperature: float | None = None
    sheet: str | None = None
    columns: AnswerShape | None = None  # structured answers: one output column per field

    def digest_text(self) -> str:
        """The options as text for a name's digest: any change makes another job."""
        fields: tuple[object, ...] = (
            self.model,
            self.system or "",
            self.max_tokens,
            self.temperature,
            self.sheet,
        )
        if self.columns is not None:  # kept out when absent: older jobs keep their names
            fields = (*fields, self.columns.schema)
        return orjson.dumps(fields, option=orjson.OPT_SORT_KEYS).decode()

    @property
    def answer_columns(self) -> tuple[str, ...]:
        """The answer's columns in the output: one per field, or one ``answer``."""
        return self.columns.fields if self.columns is not None else ("answer",)


@dataclass(frozen=True)
class TablePlan:
    """What `halfrate run` will submit: the table, the prompt over it, and the options."""

    table: TableFile
    template: Template
    provider: Provider
    job_name: str
    prompt: str
    options: TableOptions

    @property
    def model(self) -> str:
        return self.options.model

    @property
    def endpoint(self) -> str:
        return ANTHROPIC_MESSAGES if self.provider is Provider.ANTHROPIC else CHAT

    @property
    def asked_digest(self) -> str:
        """Six hex digits that differ for another prompt, model or option (not for another
        file content): what the default answers file is named with."""
        return _asked_digest(self.prompt, self.options)

    def body(self, prompt: str) -> dict[str, object]:
        o = self.options
        if self.provider is Provider.ANTHROPIC:
            claude: dict[str, object] = {"model": o.model, "max_tokens": o.max_tokens}
            if o.system:
                claude["system"] = o.system
            claude["messages"] = [{"role": "user", "content": prompt}]
            if o.columns is not None:
                claude["output_config"] = o.columns.claude_format()
            return claude
        messages = [{"role": "system", "content": o.system}] if o.system else []
        messages.append({"role": "user", "content": prompt})
        chat: dict[str, object] = {"model": o.model, "messages": messages}
        chat["max_completion_tokens"] = o.max_tokens
        if o.temperature is not None:
            chat["temperature"] = o.temperature
        if o.columns is not None:
            chat["response_format"] = o.columns.openai_format()
        return chat

    def lines(
        self, max_line_bytes: int, only: frozenset[int] | None = None
    ) -> Iterator[ParsedLine]:
        """One request per row (per row of ``only``, when given), each checked; the first bad
        row stops it with its number."""
        for row in self.table.rows():
            if only is not None and row.number not in only:
                continue
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

    def content_changed(self) -> bool:
        """Whether the file's content differs from when the plan was made."""
        return self.job_name != _job_name(self.table.path, self.asked_digest)

    def default_output(self) -> Path:
        """Beside the input, named after what was asked: ``tickets.answers-3f9a1c.csv``."""
        path = self.table.path
        return path.with_name(f"{path.stem}.answers-{self.asked_digest}{path.suffix.lower()}")


def plan_table(file: str | Path, prompt: str, options: TableOptions | None = None) -> TablePlan:
    """The file's header, the prompt over its columns and the options, all checked."""
    chosen = check_options(options or TableOptions())
    provider = provider_of_model(chosen.model)
    assert provider is not None  # check_options refused an unknown model
    table = open_table(file, chosen.sheet)
    template = Template.parse(prompt, table.columns)
    name = _job_name(table.path, _asked_digest(prompt, chosen))
    return TablePlan(table, template, provider, name, prompt, chosen)


def check_options(options: TableOptions) -> TableOptions:
    """The options checked, each refused by its flag's name."""
    model = options.model.strip()
    provider = provider_of_model(model) if model else None
    if provider is None:
        raise InputError(f"--model {model!r} is not a model halfrate knows (gpt-…, o3…, claude-…)")
    if options.system is not None:
        if not options.system.strip():
            raise InputError("--system is empty: leave it out, or write the instructions")
        if len(options.system) > MAX_SYSTEM_CHARS:
            raise InputError(f"--system is longer than {MAX_SYSTEM_CHARS:,} characters")
    tokens = options.max_tokens
    if isinstance(tokens, bool) or not isinstance(tokens, int) or not 0 < tokens <= MAX_MAX_TOKENS:
        raise InputError(f"--max-tokens must be a whole number from 1 to {MAX_MAX_TOKENS:,}")
    if options.temperature is not None:
        if provider is Provider.ANTHROPIC:
            raise InputError(
                "--temperature: Claude's current API takes no temperature; leave it out"
            )
        if not 0 <= options.temperature <= 2:
            raise InputError("--temperature must be from 0 to 2")
    return TableOptions(
        model, options.system, tokens, options.temperature, options.sheet, options.columns
    )


def _asked_digest(prompt: str, options: TableOptions) -> str:
    return _digest(f"{prompt}\n{options.digest_text()}".encode())[:6]


def _job_name(path: Path, asked: str) -> str:
    """The same file content and the same question: the same job."""
    content = _file_digest(path)
    return f"run-{path.stem[:150]}-{_digest(f'{content}{asked}'.encode())[:10]}"


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    except OSError as exc:
        raise InputError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    return digest.hexdigest()


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def estimate_table(
    plan: TablePlan,
    prices: PriceBook,
    max_line_bytes: int,
    output_tokens: int | None = None,
    only: frozenset[int] | None = None,
) -> Estimate:
    """Tokens and price of the whole job in each lane; reads (and checks) every row. Every
    request carries its answer limit, so the price is a ceiling; ``output_tokens`` assumes a
    typical answer length instead (never past the limit)."""
    check_assumed_output(output_tokens)
    lines = plan.lines(max_line_bytes, only)
    made = estimate(lines, prices, output_tokens, assume_within_limits=True)
    if not made.requests:
        raise InputError(f"{plan.table.where()}: no rows with values under the first row")
    return made
