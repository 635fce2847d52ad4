"""Reading and validating request files before anything is stored.

A file is accepted whole or rejected whole: :func:`scan_jsonl` reads every line and raises one
:class:`InputError` naming the line and the problem; only then does the store re-read it with
:func:`iter_jsonl`, which checks that the bytes are still the ones that were validated. Nothing is
held in memory but the set of keys seen, so a million-line file costs tens of MB, not GB.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from halfrate.errors import InputError
from halfrate.models import Provider, RequestSpec

# halfrate's own client-side list; the sandbox keeps its own copy on purpose (it stands in for
# the provider), and a test checks that the two agree.
OPENAI_BATCH_ENDPOINTS = (
    "/v1/responses",
    "/v1/chat/completions",
    "/v1/embeddings",
    "/v1/completions",
    "/v1/moderations",
    "/v1/images/generations",
    "/v1/images/edits",
    "/v1/videos",
)
# Endpoints whose body must name a model (the others have a provider default).
MODEL_REQUIRED = frozenset(
    {"/v1/responses", "/v1/chat/completions", "/v1/embeddings", "/v1/completions"}
)
MAX_KEY_CHARS = 512
MAX_MODEL_CHARS = 200
OPENAI_LINE_FIELDS = frozenset({"custom_id", "method", "url", "body"})


@dataclass(frozen=True)
class ParsedLine:
    line_no: int
    key: str
    provider: Provider
    endpoint: str
    model: str
    body_json: str  # the body exactly as halfrate will send it


@dataclass(frozen=True)
class ScanSummary:
    lines: int
    sha256: str


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_body(endpoint: str, body: Any) -> str:
    """Validate a request body for ``endpoint``; returns its model ('' where none is needed)."""
    if not isinstance(body, dict):
        raise InputError(f"'body' must be a JSON object, got {_describe(body)}")
    if body.get("stream") is True:
        raise InputError("'body.stream' is true; the Batch API does not stream, remove it")
    model = body.get("model")
    if model is None:
        if endpoint in MODEL_REQUIRED:
            raise InputError(f"'body.model' is missing; {endpoint} needs a model")
        return ""
    if not isinstance(model, str) or not model.strip():
        raise InputError(f"'body.model' must be a non-empty string, got {_describe(model)}")
    if len(model) > MAX_MODEL_CHARS:
        raise InputError(f"'body.model' is longer than {MAX_MODEL_CHARS} characters")
    return model


def check_key(key: Any) -> str:
    if not isinstance(key, str) or not key:
        raise InputError(f"'custom_id' must be a non-empty string, got {_describe(key)}")
    if len(key) > MAX_KEY_CHARS:
        raise InputError(f"'custom_id' is longer than {MAX_KEY_CHARS} characters")
    return key


def parse_openai_line(obj: Any) -> tuple[str, str, str, dict[str, Any]]:
    """Check one OpenAI batch line; returns (key, endpoint, model, body)."""
    if not isinstance(obj, dict):
        raise InputError(f"a line must be a JSON object, got {_describe(obj)}")
    if "params" in obj and "url" not in obj:
        raise InputError(
            "this is an Anthropic Message Batches line (custom_id, params); "
            "halfrate reads OpenAI batch lines (custom_id, method, url, body) here"
        )
    for name in ("custom_id", "method", "url", "body"):
        if name not in obj:
            raise InputError(f"missing field '{name}'")
    unknown = sorted(set(obj) - OPENAI_LINE_FIELDS)
    if unknown:
        raise InputError(f"unknown field '{unknown[0]}' (a line has custom_id, method, url, body)")
    key = check_key(obj["custom_id"])
    if obj["method"] != "POST":
        raise InputError(f"'method' must be \"POST\", got {_describe(obj['method'])}")
    url = obj["url"]
    if url not in OPENAI_BATCH_ENDPOINTS:
        allowed = ", ".join(OPENAI_BATCH_ENDPOINTS)
        raise InputError(f"'url' {_describe(url)} is not a Batch API endpoint ({allowed})")
    body = obj["body"]
    model = check_body(url, body)
    return key, url, model, body


def check_spec(spec: RequestSpec) -> None:
    """Validate a request given from Python, with the same rules as a file line."""
    check_key(spec.key)
    if spec.provider is not Provider.OPENAI:
        raise InputError(f"provider {spec.provider.value!r} is not supported yet")
    if spec.endpoint not in OPENAI_BATCH_ENDPOINTS:
        raise InputError(f"endpoint {spec.endpoint!r} is not a Batch API endpoint")
    check_body(spec.endpoint, spec.body)


def _raw_lines(path: Path, max_line_bytes: int, digest: Any) -> Iterator[tuple[int, bytes]]:
    """Yield (line number, bytes) without ever holding more than one line (bounded) in memory."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror or exc}", source=str(path)) from exc
    with handle:
        line_no = 0
        while True:
            raw = handle.readline(max_line_bytes + 2)
            if not raw:
                return
            digest.update(raw)
            line_no += 1
            if len(raw.rstrip(b"\r\n")) > max_line_bytes:
                raise InputError(
                    f"line is longer than the limit of {max_line_bytes:,} bytes",
                    source=str(path),
                    line=line_no,
                )
            yield line_no, raw


def _parse(path: Path, line_no: int, raw: bytes, *, keep_body: bool = True) -> ParsedLine | None:
    text = raw.strip()
    if not text:
        return None
    try:
        text.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"not valid UTF-8 (byte {exc.start + 1} of the line)", source=str(path), line=line_no
        ) from exc
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc}", source=str(path), line=line_no) from exc
    try:
        key, endpoint, model, body = parse_openai_line(obj)
    except InputError as exc:
        raise InputError(str(exc), source=str(path), line=line_no) from exc
    return ParsedLine(
        line_no=line_no,
        key=key,
        provider=Provider.OPENAI,
        endpoint=endpoint,
        model=model,
        # The validating pass only needs keys; serialising bodies there would be thrown away.
        body_json=orjson.dumps(body).decode() if keep_body else "",
    )


def scan_jsonl(path: Path, *, max_line_bytes: int) -> ScanSummary:
    """Validate every line of ``path``; raise the first problem, naming its line."""
    digest = hashlib.sha256()
    seen: dict[str, int] = {}
    count = 0
    for line_no, raw in _raw_lines(path, max_line_bytes, digest):
        parsed = _parse(path, line_no, raw, keep_body=False)
        if parsed is None:
            continue
        first = seen.setdefault(parsed.key, line_no)
        if first != line_no:
            raise InputError(
                f"duplicate custom_id {_describe(parsed.key)} (first on line {first})",
                source=str(path),
                line=line_no,
            )
        count += 1
    if count == 0:
        raise InputError("the file has no requests (it is empty)", source=str(path))
    return ScanSummary(lines=count, sha256=digest.hexdigest())


def iter_jsonl(path: Path, *, max_line_bytes: int, expected_sha256: str) -> Iterator[ParsedLine]:
    """Re-read a file that :func:`scan_jsonl` accepted; fails if it changed in between.

    The lines were validated by the scan and the checksum proves they are the same bytes, so
    this pass only extracts fields (the caller's transaction rolls back on a mismatch).
    """
    digest = hashlib.sha256()
    for line_no, raw in _raw_lines(path, max_line_bytes, digest):
        text = raw.strip()
        if not text:
            continue
        try:
            obj = orjson.loads(text)
            body = obj["body"]
            model = body.get("model")
            yield ParsedLine(
                line_no=line_no,
                key=obj["custom_id"],
                provider=Provider.OPENAI,
                endpoint=obj["url"],
                model=model if isinstance(model, str) else "",
                body_json=orjson.dumps(body).decode(),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise InputError(
                "the file changed while it was being submitted", source=str(path), line=line_no
            ) from exc
    if digest.hexdigest() != expected_sha256:
        raise InputError("the file changed while it was being submitted", source=str(path))
