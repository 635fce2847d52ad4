"""What the sandbox would bill: one entry per synchronous answer and per batch line.

Every synchronous answer is an entry, errors and injected faults included (not charged). Every
line of an ended batch is an entry, exactly one however often its result was written, including
the lines that never ran (cancelled, expired, or lost to the ``missing_lines`` fault: not
charged), so the ledger accounts for each line a client sent. A batch that failed validation
ran nothing and has no entries. ``charged`` is true only for answers that succeeded: HTTP 2xx,
or an Anthropic ``succeeded`` result. So "each succeeded custom_id was charged once" is: group
the charged batch entries by ``(provider, custom_id)`` and count.

Entry fields: ``provider`` ("openai" | "anthropic"), ``kind`` ("sync" | "batch"), ``endpoint``,
``model``, ``service_tier`` (default/flex/priority/scale, standard, or batch), ``batch_id``,
``custom_id``, ``status`` (HTTP status; for a batch line the Anthropic result type, for an
OpenAI line that never ran its error code, ``batch_cancelled`` / ``batch_expired``, and for a
line lost by the ``missing_lines`` fault ``missing``), ``charged``, ``input_tokens`` (uncached
input only for Anthropic, as its usage reports it; the whole prompt for OpenAI),
``output_tokens``, ``cache_read_tokens`` (read from the prompt cache: Anthropic's
``cache_read_input_tokens``, OpenAI's ``cached_tokens``, a part of its ``input_tokens``),
``cache_write_tokens`` (Anthropic's ``cache_creation_input_tokens``; 0 for OpenAI), ``at``
(app-clock seconds; for a batch line the time it ran, or the time the batch stopped for a line
that never ran), ``fault`` (the injected fault kind that shaped this entry, e.g. ``sync_429``,
``line_500``, ``duplicate_lines`` or ``expire_partway``; else null).

A batch of 50,000 lines must not get noticeably slower for being recorded, so a batch is stored
as one block of compact row tuples with the shared fields once; dicts are built only when read.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

# A batch line: (custom_id, status, model, input, output, cache_read, cache_write).
Row = tuple[str, "int | str", "str | None", int, int, int, int]


def succeeded(status: int | str) -> bool:
    """Whether an answer is billed: HTTP 2xx, or an Anthropic ``succeeded`` result."""
    if isinstance(status, int):
        return 200 <= status < 300
    return status == "succeeded"


@dataclass(frozen=True, slots=True)
class SyncEntry:
    provider: str
    endpoint: str
    model: str | None
    service_tier: str
    status: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    at: float
    fault: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "kind": "sync",
            "endpoint": self.endpoint,
            "model": self.model,
            "service_tier": self.service_tier,
            "batch_id": None,
            "custom_id": None,
            "status": self.status,
            "charged": succeeded(self.status),
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "at": self.at,
            "fault": self.fault,
        }


@dataclass(frozen=True, slots=True)
class BatchBlock:
    """Every line of one ended batch, in the order they ran.

    The first ``ran`` rows ran, evenly spaced: row ``i`` at ``start + (i + 1) * step``; the
    others never ran and are dated ``stopped_at``. ``faults``: by row index, the injected fault
    that shaped a row (absent for the rows no fault touched; None when none did).
    """

    provider: str
    endpoint: str
    batch_id: str
    rows: list[Row]
    ran: int
    start: float
    step: float
    stopped_at: float
    faults: dict[int, str] | None = None

    def to_dicts(self) -> list[dict[str, Any]]:
        entries = []
        faults = self.faults or {}
        for i, (custom_id, status, model, inp, out, read, write) in enumerate(self.rows):
            ran = i < self.ran
            entries.append(
                {
                    "provider": self.provider,
                    "kind": "batch",
                    "endpoint": self.endpoint,
                    "model": model,
                    "service_tier": "batch",
                    "batch_id": self.batch_id,
                    "custom_id": custom_id,
                    "status": status,
                    "charged": ran and succeeded(status),
                    "input_tokens": inp,
                    "output_tokens": out,
                    "cache_read_tokens": read,
                    "cache_write_tokens": write,
                    "at": self.start + (i + 1) * self.step if ran else self.stopped_at,
                    "fault": faults.get(i),
                }
            )
        return entries


class Ledger:
    """The entries of one sandbox app, in the order they were recorded. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[SyncEntry | BatchBlock] = []

    def record(self, entry: SyncEntry | BatchBlock) -> None:
        with self._lock:
            self._items.append(entry)

    def entries(self) -> list[dict[str, Any]]:
        """Every entry as a plain dict (the fields of the module docstring)."""
        with self._lock:
            items = list(self._items)
        out: list[dict[str, Any]] = []
        for item in items:
            if isinstance(item, SyncEntry):
                out.append(item.to_dict())
            else:
                out.extend(item.to_dicts())
        return out
