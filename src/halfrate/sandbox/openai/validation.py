"""Whole-file validation of a batch input file, as OpenAI does before running anything.

See docs/openai-batch.md#validation-failures.

Pure: bytes and the batch endpoint in, the parsed tasks or the list of problems out. A file is
accepted whole or rejected whole; every problem found is reported with its 1-based line, up to
:data:`MAX_ERRORS`.

Codes: ``empty_file``, ``invalid_json_line``, ``duplicate_custom_id``, ``url_mismatch``,
``model_mismatch`` and ``too_many_tasks`` are the ones reported from OpenAI; for a missing field we
use ``missing_required_parameter`` and for a field of the wrong type or value ``invalid_request``
(both with ``param`` naming the field). ``body.stream: true`` is ``invalid_request`` too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from halfrate.sandbox.common.jsondata import JSON
from halfrate.sandbox.openai.checks import EMBEDDINGS

MAX_TASKS = 50_000
# Across all lines of an /v1/embeddings batch (docs/openai-batch.md#limits).
MAX_EMBEDDING_INPUTS = 50_000
MAX_ERRORS = 1000


@dataclass(frozen=True, slots=True)
class Task:
    """One request line of a valid input file."""

    line: int  # 1-based line number in the input file
    custom_id: str
    body: JSON


@dataclass
class Validation:
    tasks: list[Task] = field(default_factory=list)
    errors: list[JSON] = field(default_factory=list)
    model: str | None = None

    @property
    def ok(self) -> bool:
        return not self.errors

    def add(self, code: str, message: str, line: int | None, param: str | None = None) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append({"code": code, "message": message, "param": param, "line": line})


def _split_lines(data: bytes) -> list[bytes]:
    if data.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark is not part of the JSON
        data = data[3:]
    lines = data.split(b"\n")
    if lines and not lines[-1].strip():
        lines.pop()  # the newline that ends the last line does not start another
    return lines


def _check_line(obj: Any, number: int, endpoint: str, result: Validation) -> Task | None:
    """Validate one parsed line; record its problems and return it as a task if it has none."""
    if not isinstance(obj, dict):
        result.add("invalid_request", "Each line must be a JSON object.", number)
        return None
    before = len(result.errors)
    custom_id = obj.get("custom_id")
    if custom_id is None:
        result.add(
            "missing_required_parameter",
            "Missing required parameter: 'custom_id'.",
            number,
            "custom_id",
        )
    elif not isinstance(custom_id, str) or not custom_id:
        result.add(
            "invalid_request", "'custom_id' must be a non-empty string.", number, "custom_id"
        )
    method = obj.get("method")
    if method is None:
        result.add(
            "missing_required_parameter", "Missing required parameter: 'method'.", number, "method"
        )
    elif method != "POST":
        result.add(
            "invalid_request",
            f"Invalid 'method': {method!r}; only 'POST' is supported.",
            number,
            "method",
        )
    url = obj.get("url")
    if url is None:
        result.add(
            "missing_required_parameter", "Missing required parameter: 'url'.", number, "url"
        )
    elif url != endpoint:
        result.add(
            "url_mismatch",
            f"The url {url!r} does not match the batch endpoint {endpoint!r}.",
            number,
            "url",
        )
    body = obj.get("body")
    if body is None:
        result.add(
            "missing_required_parameter", "Missing required parameter: 'body'.", number, "body"
        )
    elif not isinstance(body, dict):
        result.add("invalid_request", "'body' must be a JSON object.", number, "body")
    elif body.get("stream") is True:
        result.add(
            "invalid_request",
            "Streaming is not supported in batch requests; remove 'stream' from the body.",
            number,
            "body.stream",
        )
    if len(result.errors) != before or len(result.errors) >= MAX_ERRORS:
        return None
    assert isinstance(custom_id, str)
    assert isinstance(body, dict)
    return Task(number, custom_id, body)


def _embedding_inputs(body: JSON) -> int:
    raw = body.get("input")
    if isinstance(raw, list) and raw and not all(isinstance(x, int) for x in raw):
        return len(raw)
    return 1


def validate(data: bytes, endpoint: str) -> Validation:
    """Parse and check a whole batch input file for a batch targeting ``endpoint``."""
    result = Validation()
    lines = _split_lines(data)
    seen: dict[str, int] = {}
    first_model_line = 0
    requests = 0
    embedding_inputs = 0
    for index, raw in enumerate(lines):
        number = index + 1
        if not raw.strip():
            continue  # blank lines carry no request; they still count for line numbers
        requests += 1
        if requests == MAX_TASKS + 1:
            result.add(
                "too_many_tasks",
                f"The input file has more than {MAX_TASKS:,} requests; split it into smaller "
                "batches.",
                number,
            )
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError:
            result.add("invalid_json_line", "This line is not parseable as valid JSON.", number)
            continue
        task = _check_line(obj, number, endpoint, result)
        if task is None:
            continue
        if task.custom_id in seen:
            result.add(
                "duplicate_custom_id",
                f"The custom_id {task.custom_id!r} is already used on line "
                f"{seen[task.custom_id]}; each custom_id must be unique within a batch.",
                number,
                "custom_id",
            )
            continue
        seen[task.custom_id] = number
        model = task.body.get("model")
        if isinstance(model, str):
            if result.model is None:
                result.model, first_model_line = model, number
            elif model != result.model:
                result.add(
                    "model_mismatch",
                    f"This line uses model {model!r}, but line {first_model_line} uses "
                    f"{result.model!r}; an input file may contain only one model.",
                    number,
                    "body.model",
                )
                continue
        if endpoint == EMBEDDINGS:
            embedding_inputs += _embedding_inputs(task.body)
            if embedding_inputs > MAX_EMBEDDING_INPUTS:
                result.add(
                    "too_many_tasks",
                    f"The input file has more than {MAX_EMBEDDING_INPUTS:,} embedding inputs "
                    "across its requests.",
                    number,
                    "body.input",
                )
                embedding_inputs = -(10**12)  # report the overflow once
        result.tasks.append(task)
    if requests == 0:
        result.add(
            "empty_file", "The input file is empty; it must contain at least one request.", None
        )
    if result.errors:
        result.tasks = []
    return result
