"""Anthropic Message Batches through the official ``anthropic`` SDK.

A batch is created with its requests inline. halfrate writes the create body to a spool file and
streams it to the SDK's client, so a 256 MB batch never sits in memory as Python objects.
Message Batches carry no metadata, so after a crash between create and recording its answer,
halfrate recognises its own batch by its size and creation time among batches no other halfrate
batch has claimed; the results then prove it, since every custom_id names one of our requests.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import anthropic
from anthropic.types.messages import MessageBatch

from halfrate.errors import ProviderAuthError
from halfrate.providers import anthropic_lines
from halfrate.providers.base import InputLines, Limits, OutputLine, RemoteBatch
from halfrate.providers.sdk_errors import mapped

BATCHES_PATH = "/v1/messages/batches"


def sdk_errors(what: str) -> contextlib.AbstractContextManager[None]:
    """Map the SDK's exceptions onto halfrate's, keeping the cause."""
    return mapped(anthropic, "Anthropic", what, message_of)


def message_of(exc: anthropic.APIStatusError) -> str:
    kind, text = anthropic_lines.error_of(exc.body)
    if kind == "error" and not isinstance(exc.body, dict):
        return f"HTTP {exc.status_code}"
    return f"HTTP {exc.status_code}: {kind}: {text}"


def client_from_env(**kwargs: Any) -> anthropic.Anthropic:
    """An SDK client configured by the SDK's own variables (ANTHROPIC_API_KEY, _BASE_URL)."""
    has_key = os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_AUTH_TOKEN")
    if not has_key and "api_key" not in kwargs:
        raise ProviderAuthError(
            "ANTHROPIC_API_KEY is not set (for the local sandbox: start `halfrate sandbox` and "
            "set ANTHROPIC_BASE_URL=http://127.0.0.1:8787 ANTHROPIC_API_KEY=sandbox)"
        )
    return anthropic.Anthropic(**kwargs)


class AnthropicBatchProvider:
    name = "anthropic"
    # Each request names its own model (docs/anthropic-batches.md#the-create-body).
    mixes_models = True
    uploads_input = False
    # Message batches carry no metadata: a batch is told apart after a crash by its size and
    # time alone, so halfrate creates one at a time per store (see QueueQueries.start_create).
    tags_batches = False

    def __init__(self, client: anthropic.Anthropic, limits: Limits) -> None:
        self.client = client
        # The body is streamed from a file, which a retry could not re-send; and a create the
        # SDK retried after a lost answer could make a second batch. halfrate retries itself.
        self._once = client.with_options(max_retries=0)
        # The {"requests": [...]} around the requests counts toward the size limit too.
        self.limits = Limits(
            limits.max_lines, limits.max_bytes - anthropic_lines.envelope_overhead()
        )

    def check(self) -> None:
        with sdk_errors(f"check of {self.client.base_url}"):
            self.client.messages.batches.list(limit=1)

    def line_overhead(self, endpoint: str) -> int:
        return anthropic_lines.line_overhead()

    def write_input(self, lines: InputLines, handle: BinaryIO) -> None:
        anthropic_lines.write_create_body(lines, handle)

    def parse_output_line(self, line: str) -> OutputLine | None:
        return anthropic_lines.parse_result_line(line)

    def stage(self, path: Path) -> str:
        return str(path)  # the requests go inline with create, read from this file

    def create(self, our_id: str, endpoint: str, source: str) -> RemoteBatch:
        path = Path(source)
        with sdk_errors("batch create"), path.open("rb") as body:
            batch = self._once.post(
                BATCHES_PATH,
                cast_to=MessageBatch,
                content=body,
                options={
                    "headers": {
                        "content-type": "application/json",
                        "content-length": str(path.stat().st_size),
                    }
                },
            )
        return _remote(batch)

    def retrieve(self, batch_id: str) -> RemoteBatch:
        with sdk_errors("batch retrieve"):
            return _remote(self.client.messages.batches.retrieve(batch_id))

    def find_created(
        self,
        our_id: str,
        request_count: int,
        created_after: float,
        is_taken: Callable[[str], bool],
    ) -> RemoteBatch | None:
        found: list[MessageBatch] = []
        with sdk_errors("batch list"):
            for batch in self.client.messages.batches.list(limit=100):  # newest first
                if batch.created_at.timestamp() < created_after:
                    break
                counts = batch.request_counts
                total = (
                    counts.processing
                    + counts.succeeded
                    + counts.errored
                    + counts.canceled
                    + counts.expired
                )
                if total == request_count and not is_taken(batch.id):
                    found.append(batch)
        # The earliest match is the likeliest: our create started before any later one.
        return _remote(min(found, key=lambda b: b.created_at)) if found else None

    def cancel(self, batch_id: str) -> RemoteBatch:
        with sdk_errors("batch cancel"):
            return _remote(self.client.messages.batches.cancel(batch_id))

    def iter_output(self, ref: str) -> Iterator[str]:
        # results() retrieves the batch and follows its results_url; the lines are read raw,
        # so ingestion parses each once, without building SDK objects for them.
        with sdk_errors("batch results"):
            decoder = self.client.messages.batches.results(ref)
            try:
                yield from decoder.http_response.iter_lines()
            finally:
                decoder.close()

    def close(self) -> None:
        self.client.close()


def _remote(batch: MessageBatch) -> RemoteBatch:
    counts = batch.request_counts
    ended = batch.processing_status == "ended"
    return RemoteBatch(
        id=batch.id,
        status=batch.processing_status,
        terminal=ended,
        completed=counts.succeeded,
        failed=counts.errored + counts.canceled + counts.expired,
        outputs=(batch.id,) if ended else (),
        created_at=batch.created_at.timestamp(),
    )
