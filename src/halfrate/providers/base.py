"""The contract every batch provider adapter fulfils.

Writing a batch's input and reading an output line are pure functions; only upload, create,
retrieve, list, cancel and download touch the network.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol

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
    # Where the results are, once it ended: file ids (OpenAI), or the batch itself (Anthropic).
    outputs: tuple[str, ...] = ()
    failed_validation: bool = False  # ran nothing: the provider refused the input as a whole
    created_at: float | None = None


# (custom_id, endpoint, body JSON) of each request of a batch, in request-id order.
InputLines = Iterable[tuple[str, str, str]]


@dataclass(slots=True)  # not frozen: one per output line, see records.LineOutcome
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
    mixes_models: bool  # one batch may hold several models (Anthropic), or one only (OpenAI)
    uploads_input: bool  # the input is uploaded as a file first (OpenAI), or sent with create
    tags_batches: bool  # whether find_created can match our id exactly (batch metadata)

    def check(self) -> None:
        """One cheap call that proves the endpoint answers and accepts the key."""
        ...

    def line_overhead(self, endpoint: str) -> int:
        """Bytes a request adds around its body in the input (for splitting at the byte limit)."""
        ...

    def write_input(self, lines: InputLines, handle: BinaryIO) -> None:
        """Write a batch's input in the provider's format, streaming."""
        ...

    def stage(self, path: Path) -> str:
        """Make a written input file ready for create: OpenAI uploads it and returns the file's
        id; Anthropic returns the path, as the requests go inline with create."""
        ...

    def create(self, our_id: str, endpoint: str, source: str) -> RemoteBatch:
        """Create the batch from an uploaded file id, or from the input file at a local path."""
        ...

    def retrieve(self, batch_id: str) -> RemoteBatch: ...

    def find_created(
        self,
        our_id: str,
        request_count: int,
        created_after: float,
        is_taken: Callable[[str], bool],
    ) -> RemoteBatch | None:
        """The provider batch a create for ``our_id`` made, if it reached the provider.

        Used after a crash between create and recording its answer; ``is_taken`` says whether a
        provider batch id already belongs to another of our batches.
        """
        ...

    def cancel(self, batch_id: str) -> RemoteBatch: ...

    def iter_output(self, ref: str) -> Iterator[str]:
        """The lines of one of ``RemoteBatch.outputs``, streamed."""
        ...

    def parse_output_line(self, line: str) -> OutputLine | None:
        """None for a line that is not a result (blank, or unreadable: logged)."""
        ...

    def close(self) -> None: ...
