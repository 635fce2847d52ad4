"""Reading and validating request files before anything is stored.

A file holds one provider's batch lines: OpenAI's (``custom_id, method, url, body``) or
Anthropic's (``custom_id, params``); :mod:`halfrate.line_formats` checks each line.

A file is accepted whole or rejected whole: :func:`checked_jsonl` checks each line as the store
takes it, inside the one transaction that stores the submission, and raises one
:class:`InputError` naming the line and the problem (the transaction then stores nothing); the
file's hash, taken first (:func:`file_sha256`), names the job and proves at the end that the
bytes did not change. Each line is parsed once. Nothing is held in memory but the set of keys
seen, so a million-line file costs tens of MB, not GB.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from halfrate.errors import InputError
from halfrate.intake.line_formats import describe, parse_line
from halfrate.models import Provider
from halfrate.records import ParsedLine


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


def _parse(path: Path, line_no: int, raw: bytes, expected: Provider | None) -> ParsedLine | None:
    text = raw.strip()
    if not text:
        return None
    try:
        obj = orjson.loads(text)  # refuses bytes that are not UTF-8 too
    except orjson.JSONDecodeError as exc:
        # Only now, for the message: was it the encoding, and where?
        try:
            text.decode("utf-8")
        except UnicodeDecodeError as bad:
            raise InputError(
                f"not valid UTF-8 (byte {bad.start + 1} of the line)",
                source=str(path),
                line=line_no,
            ) from bad
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
        body_json=orjson.dumps(request.body).decode(),
    )


def file_sha256(path: Path) -> str:
    """The file's SHA-256, read in large blocks (no line is parsed): what names a job after
    its file, and proves later that the bytes did not change."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror or exc}", source=str(path)) from exc
    return digest.hexdigest()


def checked_jsonl(
    path: Path, *, max_line_bytes: int, expected_sha256: str | None = None
) -> Iterator[ParsedLine]:
    """Every request of ``path``, each checked whole as it is read: the first problem raises
    one :class:`InputError` naming its line, so a caller that stores the lines in one
    transaction as they come stores nothing of a refused file (one pass: each line is parsed
    once). With ``expected_sha256``, the end of the file also proves the bytes are the ones
    hashed before (the file did not change in between)."""
    digest = hashlib.sha256()
    seen: dict[str, int] = {}
    provider: Provider | None = None  # the first request's format is the file's
    for line_no, raw in _raw_lines(path, max_line_bytes, digest):
        parsed = _parse(path, line_no, raw, provider)
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
        yield parsed
    if provider is None:
        raise InputError("the file has no requests (it is empty)", source=str(path))
    if expected_sha256 is not None and digest.hexdigest() != expected_sha256:
        raise InputError("the file changed while it was being submitted", source=str(path))
