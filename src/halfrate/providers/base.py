"""The contract every batch provider adapter fulfils.

Building a batch line and reading an output line are pure functions; only upload, create,
retrieve, list, cancel and download touch the network.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from halfrate.models import Usage, Verdict

CUSTOM_ID_PREFIX = "hr-"
METADATA_KEY = "halfrate_batch_id"


def custom_id_for(request_id: int) -> str:
    """halfrate's own custom_id for a request: short, unique, valid at every provider."""
    return f"{CUSTOM_ID_PREFIX}{request_id}"


def request_id_from(custom_id: str) -> int | None:
    if not custom_id.startswith(CUSTOM_ID_PREFIX):
        return None
    digits = custom_id[len(CUSTOM_ID_PREFIX) :]
    return int(digits) if digits.isdigit() else None


@dataclass(frozen=True)
class Limits:
    max_lines: int
    max_bytes: int


@dataclass(frozen=True)
class LineError:
    """A whole-batch validation error, as the provider reports it."""

    code: str
    message: str
    line: int | None


@dataclass(frozen=True)
class RemoteBatch:
    id: str
    status: str  # the provider's own word
    terminal: bool
    output_file_id: str | None = None
    error_file_id: str | None = None
    completed: int | None = None
    failed: int | None = None
    errors: list[LineError] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class OutputLine:
    """One line of an output or error file, classified."""

    custom_id: str
    verdict: Verdict
    status_code: int | None
    response_json: str | None
    error_code: str | None
    error_message: str | None
    usage: Usage | None


class BatchProvider(Protocol):
    name: str
    limits: Limits

    def check(self) -> None:
        """One cheap call that proves the endpoint answers and accepts the key."""
        ...

    def line_overhead(self, endpoint: str) -> int:
        """Bytes a batch line adds around the body (for splitting at the byte limit)."""
        ...

    def batch_line(self, custom_id: str, endpoint: str, body_json: str) -> bytes: ...

    def upload(self, path: Path) -> str: ...

    def create(
        self, input_file_id: str, endpoint: str, metadata: dict[str, str]
    ) -> RemoteBatch: ...

    def retrieve(self, batch_id: str) -> RemoteBatch: ...

    def find_by_metadata(self, value: str, created_after: float) -> RemoteBatch | None:
        """The batch carrying ``METADATA_KEY == value``, created after the given time, if any."""
        ...

    def cancel(self, batch_id: str) -> RemoteBatch: ...

    def iter_file_lines(self, file_id: str) -> Iterator[str]: ...

    def parse_output_line(self, line: str) -> OutputLine | None:
        """None for a line that is not a result (blank, or unreadable: logged)."""
        ...

    def close(self) -> None: ...
