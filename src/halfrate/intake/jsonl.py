"""Reading and validating request files before anything is stored.

A file holds one provider's batch lines: OpenAI's (``custom_id, method, url, body``) or
Anthropic's (``custom_id, params``); :mod:`halfrate.line_formats` checks each line.

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
from halfrate.intake.line_formats import describe, line_provider, parse_line
from halfrate.models import ANTHROPIC_MESSAGES, Provider
from halfrate.records import ParsedLine


@dataclass(frozen=True)
class ScanSummary:
    lines: int
    sha256: str
    provider: Provider


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
                    f"line is longer than the limit of {max_line_bytes:,} bytes for one request "
                    "(HALFRATE_MAX_REQUEST_BYTES)",
                    source=str(path),
                    line=line_no,
                )
            yield line_no, raw


def _parse(
    path: Path, line_no: int, raw: bytes, expected: Provider | None, *, keep_body: bool = True
) -> ParsedLine | None:
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
        request = parse_line(obj, expected)
    except InputError as exc:
        raise InputError(str(exc), source=str(path), line=line_no) from exc
    return ParsedLine(
        line_no=line_no,
        key=request.key,
        provider=request.provider,
        endpoint=request.endpoint,
        model=request.model,
        # The validating pass only needs keys; serialising bodies there would be thrown away.
        body_json=orjson.dumps(request.body).decode() if keep_body else "",
    )


def scan_jsonl(path: Path, *, max_line_bytes: int) -> ScanSummary:
    """Validate every line of ``path``; raise the first problem, naming its line."""
    digest = hashlib.sha256()
    seen: dict[str, int] = {}
    count = 0
    provider: Provider | None = None  # the first request's format is the file's
    for line_no, raw in _raw_lines(path, max_line_bytes, digest):
        parsed = _parse(path, line_no, raw, provider, keep_body=False)
        if parsed is None:
            continue
        provider = parsed.provider
        first = seen.setdefault(parsed.key, line_no)
        if first != line_no:
            raise InputError(
                f"duplicate custom_id {describe(parsed.key)} (first on line {first})",
                source=str(path),
                line=line_no,
            )
        count += 1
    if provider is None:
        raise InputError("the file has no requests (it is empty)", source=str(path))
    return ScanSummary(lines=count, sha256=digest.hexdigest(), provider=provider)


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
            provider = line_provider(obj)
            anthropic = provider is Provider.ANTHROPIC
            body = obj["params"] if anthropic else obj["body"]
            model = body.get("model")
            yield ParsedLine(
                line_no=line_no,
                key=obj["custom_id"],
                provider=provider,
                endpoint=ANTHROPIC_MESSAGES if anthropic else obj["url"],
                model=model if isinstance(model, str) else "",
                body_json=orjson.dumps(body).decode(),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise InputError(
                "the file changed while it was being submitted", source=str(path), line=line_no
            ) from exc
    if digest.hexdigest() != expected_sha256:
        raise InputError("the file changed while it was being submitted", source=str(path))
