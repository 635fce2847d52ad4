"""The OpenAI Batch API through the official ``openai`` SDK."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast

import openai

from halfrate.errors import ProviderAuthError
from halfrate.providers import openai_lines
from halfrate.providers.base import (
    METADATA_KEY,
    InputLines,
    Limits,
    LineError,
    OutputLine,
    RemoteBatch,
)
from halfrate.providers.sdk_errors import mapped

TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})


def sdk_errors(what: str) -> contextlib.AbstractContextManager[None]:
    """Map the SDK's exceptions onto halfrate's, keeping the cause."""
    return mapped(openai, "OpenAI", what, _message)


def _message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return f"HTTP {exc.status_code}: {inner['message']}"
    return f"HTTP {exc.status_code}"


def client_from_env(**kwargs: Any) -> openai.OpenAI:
    """An SDK client configured by the SDK's own variables (OPENAI_API_KEY, OPENAI_BASE_URL)."""
    if not os.environ.get("OPENAI_API_KEY") and "api_key" not in kwargs:
        raise ProviderAuthError(
            "OPENAI_API_KEY is not set (for the local sandbox: start `halfrate sandbox` and set "
            "OPENAI_BASE_URL=http://127.0.0.1:8787/v1 OPENAI_API_KEY=sandbox)"
        )
    return openai.OpenAI(**kwargs)


class OpenAIBatchProvider:
    name = "openai"
    mixes_models = False  # one model per input file (docs/openai-batch.md#the-batch-input-file)
    uploads_input = True
    # Our batch id travels in the batch's metadata: after a crash, find_created is exact.
    tags_batches = True

    def __init__(self, client: openai.OpenAI, limits: Limits) -> None:
        self.client = client
        # A create the SDK retried after a lost answer could make a second batch: halfrate
        # retries creates itself, after looking for the first by its metadata.
        self._once = client.with_options(max_retries=0)
        self.limits = limits

    def check(self) -> None:
        with sdk_errors(f"check of {self.client.base_url}"):
            self.client.batches.list(limit=1)

    def line_overhead(self, endpoint: str) -> int:
        return openai_lines.line_overhead(endpoint)

    def write_input(self, lines: InputLines, handle: BinaryIO) -> None:
        for custom_id, endpoint, body_json in lines:
            handle.write(openai_lines.batch_line(custom_id, endpoint, body_json))

    def parse_output_line(self, line: str) -> OutputLine | None:
        return openai_lines.parse_output_line(line)

    def stage(self, path: Path) -> str:
        with sdk_errors("file upload"), path.open("rb") as handle:
            uploaded = self.client.files.create(
                file=(path.name, handle, "application/jsonl"), purpose="batch"
            )
        return uploaded.id

    def create(self, our_id: str, endpoint: str, source: str) -> RemoteBatch:
        with sdk_errors("batch create"):
            batch = self._once.batches.create(
                input_file_id=source,
                endpoint=cast(Any, endpoint),
                completion_window="24h",
                metadata={METADATA_KEY: our_id},
            )
        return _remote(batch)

    def retrieve(self, batch_id: str) -> RemoteBatch:
        with sdk_errors("batch retrieve"):
            return _remote(self.client.batches.retrieve(batch_id))

    def find_created(
        self,
        our_id: str,
        request_count: int,
        created_after: float,
        is_taken: Callable[[str], bool],
    ) -> RemoteBatch | None:
        # Our id travels in the batch's metadata. Newest first: stop paging once batches are
        # older than our create attempt.
        with sdk_errors("batch list"):
            for batch in self.client.batches.list(limit=100):
                if (batch.metadata or {}).get(METADATA_KEY) == our_id:
                    return _remote(batch)
                if batch.created_at < created_after:
                    return None
        return None

    def cancel(self, batch_id: str) -> RemoteBatch:
        with sdk_errors("batch cancel"):
            return _remote(self.client.batches.cancel(batch_id))

    def iter_output(self, ref: str) -> Iterator[str]:
        return self.iter_file_lines(ref)

    def iter_file_lines(self, file_id: str) -> Iterator[str]:
        with (
            sdk_errors("file download"),
            self.client.files.with_streaming_response.content(file_id) as response,
        ):
            yield from response.iter_lines()

    def close(self) -> None:
        self.client.close()


def _remote(batch: openai.types.Batch) -> RemoteBatch:
    errors = []
    if batch.errors is not None and batch.errors.data:
        errors = [
            LineError(code=e.code or "error", message=e.message or "", line=e.line)
            for e in batch.errors.data
        ]
    counts = batch.request_counts
    return RemoteBatch(
        id=batch.id,
        status=batch.status,
        terminal=batch.status in TERMINAL,
        output_file_id=batch.output_file_id,
        error_file_id=batch.error_file_id,
        completed=counts.completed if counts else None,
        failed=counts.failed if counts else None,
        errors=errors,
        metadata=dict(batch.metadata or {}),
        outputs=tuple(f for f in (batch.output_file_id, batch.error_file_id) if f),
        failed_validation=batch.status == "failed",
        created_at=float(batch.created_at),
    )
