"""The sandbox's in-memory store: files and batches of one app, behind a lock.

Lock order: a batch's own lock may be held while taking the store lock (to publish its output
files), never the other way round. The store lock is only held for dictionary work. The ledger,
prompt caches and fault counter locks (the sync calls' and :class:`FaultDice`'s) are leaves:
nothing else is taken while one is held.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from halfrate.sandbox.anthropic.prompt_cache import PromptCache
from halfrate.sandbox.anthropic.store import MessageBatchStore
from halfrate.sandbox.common.batching import WINDOW_SECONDS
from halfrate.sandbox.common.jsondata import JSON, body_digest
from halfrate.sandbox.common.ledger import Ledger
from halfrate.sandbox.faults.dice import FaultDice, content_digest, hide_this_read
from halfrate.sandbox.faults.spec import CallCounter, Faults, as_faults
from halfrate.sandbox.openai.batches import BatchRecord, not_found_batch
from halfrate.sandbox.openai.prompt_cache import PromptCache as OpenAIPromptCache
from halfrate.sandbox.openai.wire import ApiError, new_id

DAY = 24 * 3600
# Batch input and output files expire after 30 days by default
# (docs/openai-batch.md#the-files-api).
BATCH_FILE_TTL = 30 * DAY


@dataclass(frozen=True, slots=True)
class StoredFile:
    id: str
    filename: str
    purpose: str
    data: bytes
    created_at: int
    expires_at: int | None
    seq: int

    def to_wire(self) -> JSON:
        """The FileObject of docs/openai-batch.md#the-files-api."""
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.data),
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "expires_at": self.expires_at,
            "status_details": None,
        }


def not_found_file(file_id: str, param: str = "id") -> ApiError:
    return ApiError(404, f"No such File object: {file_id}", param=param)


def page(items: list[JSON], has_more: bool) -> JSON:
    """OpenAI's cursor page: ``{object, data, first_id, last_id, has_more}``."""
    return {
        "object": "list",
        "data": items,
        "first_id": items[0]["id"] if items else None,
        "last_id": items[-1]["id"] if items else None,
        "has_more": has_more,
    }


class SandboxState:
    """Everything one sandbox app remembers. Thread-safe; methods return wire dicts.

    The OpenAI files and batches live here; the knobs, the ledger and the fault counter are
    shared with the Anthropic side (:attr:`message_batches`). Each provider has its own prompt
    cache (:attr:`prompt_cache` for Anthropic, :attr:`openai_prompt_cache`).
    """

    def __init__(
        self,
        latency: float = 0.0,
        clock: Callable[[], float] | None = None,
        window: float = WINDOW_SECONDS,
        *,
        realtime_latency: float = 0.0,
        token_interval: float = 0.0,
        cancel_latency: float | None = None,
        faults: Faults | str | None = None,
    ) -> None:
        for name, value in (
            ("latency", latency),
            ("realtime_latency", realtime_latency),
            ("token_interval", token_interval),
            ("cancel_latency", cancel_latency or 0.0),
        ):
            if value < 0:
                raise ValueError(f"{name} must be >= 0")
        if window <= 0:
            raise ValueError("window must be > 0")
        self.latency = latency
        self.window = window
        self.clock = clock or time.time
        self.realtime_latency = realtime_latency
        self.token_interval = token_interval
        self.cancel_latency = cancel_latency
        self.faults = as_faults(faults)
        self.calls = CallCounter()
        self.dice = FaultDice(self.faults)
        self.ledger = Ledger()
        self.prompt_cache = PromptCache()  # Anthropic's: prefixes marked with cache_control
        self.openai_prompt_cache = OpenAIPromptCache()  # OpenAI's: automatic, by prefix
        self.message_batches = MessageBatchStore(self)
        self._lock = threading.Lock()
        self._seq = itertools.count(1)
        self._files: dict[str, StoredFile] = {}
        self._batches: dict[str, BatchRecord] = {}
        self._unseen: dict[str, int] = {}  # file id -> uses still answered 404 (file_not_found)

    def fault_for(self, body: JSON, kinds: tuple[str, ...]) -> str | None:
        """The fault (of ``kinds``, tried in order) this call of ``body`` meets, if any."""
        faults = self.faults
        if not faults.active:
            return None  # the common case costs nothing: no digest, no counting
        digest = body_digest(body)
        return faults.first(kinds, digest, self.calls.next(digest))

    # -- files ------------------------------------------------------------------------------

    def add_file(
        self, data: bytes, filename: str, purpose: str, expires_after: int | None = None
    ) -> StoredFile:
        """Store a file; ``expires_after`` seconds from now (batch files default to 30 days)."""
        now = int(self.clock())
        if expires_after is None and purpose in ("batch", "batch_output"):
            expires_after = BATCH_FILE_TTL
        expires_at = now + expires_after if expires_after is not None else None
        with self._lock:
            stored = StoredFile(
                new_id("file-"), filename, purpose, data, now, expires_at, next(self._seq)
            )
            self._files[stored.id] = stored
        return stored

    def upload_file(
        self, data: bytes, filename: str, purpose: str, expires_after: int | None = None
    ) -> StoredFile:
        """Store a client's upload: :meth:`add_file`, plus the roll of ``file_not_found``."""
        stored = self.add_file(data, filename, purpose, expires_after)
        tries = self.dice.file_hidden_tries(data)
        if tries > 0:
            with self._lock:
                self._unseen[stored.id] = tries
        return stored

    def use_file(self, file_id: str, param: str = "id") -> StoredFile:
        """:meth:`get_file` for a client's use of the id (retrieve, content, batch create),
        which a just-uploaded file hit by ``file_not_found`` answers with 404 a few times."""
        if self._unseen:
            with self._lock:
                left = self._unseen.get(file_id, 0)
                if left > 1:
                    self._unseen[file_id] = left - 1
                elif left == 1:
                    del self._unseen[file_id]
            if left > 0:
                raise not_found_file(file_id, param)
        return self.get_file(file_id, param)

    def _live(self, stored: StoredFile | None, now: float) -> bool:
        return stored is not None and (stored.expires_at is None or now < stored.expires_at)

    def get_file(self, file_id: str, param: str = "id") -> StoredFile:
        now = self.clock()
        with self._lock:
            stored = self._files.get(file_id)
        if stored is None or not self._live(stored, now):
            raise not_found_file(file_id, param)
        return stored

    def delete_file(self, file_id: str) -> JSON:
        self.get_file(file_id)
        with self._lock:
            deleted = self._files.pop(file_id, None) is not None
        if not deleted:
            raise not_found_file(file_id)
        return {"id": file_id, "object": "file", "deleted": True}

    def list_files(
        self, *, purpose: str | None, after: str | None, limit: int, descending: bool
    ) -> JSON:
        now = self.clock()
        with self._lock:
            files = sorted(self._files.values(), key=lambda f: f.seq, reverse=descending)
        files = [f for f in files if self._live(f, now)]
        if purpose is not None:
            files = [f for f in files if f.purpose == purpose]
        if after is not None:
            ids = [f.id for f in files]
            files = files[ids.index(after) + 1 :] if after in ids else []
        chosen = files[:limit]
        return page([f.to_wire() for f in chosen], len(files) > limit)

    def _publish_output(self, output_expires_after: int | None) -> Callable[[bytes, str], str]:
        def publish(data: bytes, filename: str) -> str:
            return self.add_file(data, filename, "batch_output", output_expires_after).id

        return publish

    # -- batches ----------------------------------------------------------------------------

    def create_batch(
        self,
        *,
        input_file_id: str,
        endpoint: str,
        metadata: dict[str, str] | None,
        output_expires_after: int | None,
    ) -> JSON:
        source = self.use_file(input_file_id, param="input_file_id")
        if source.purpose != "batch":
            raise ApiError(
                400,
                f"File {input_file_id} has purpose '{source.purpose}'; a batch input file must "
                "be uploaded with purpose 'batch'.",
                param="input_file_id",
            )
        plan = self.dice.plan("openai", lambda: content_digest(source.data, endpoint.encode()))
        now = self.clock()
        record = BatchRecord(
            id=new_id("batch_", 32),
            endpoint=endpoint,
            input_file_id=input_file_id,
            input_data=source.data,
            metadata=metadata,
            created=now,
            seq=0,
            latency=self.latency,
            window=self.window,
            output_expires_after=output_expires_after,
            cancel_latency=self.cancel_latency,
            ledger=self.ledger,
            plan=plan,
            dice=self.dice,
            hidden_reads=plan.hidden_reads,
            cache=self.openai_prompt_cache,
        )
        with self._lock:
            record.seq = next(self._seq)
            self._batches[record.id] = record
        # Answer `validating` even with latency 0: the first retrieve moves it on
        # (docs/openai-batch.md#batch-endpoints).
        with record.lock:
            return record.to_wire(now)

    def _record(self, batch_id: str) -> BatchRecord:
        with self._lock:
            record = self._batches.get(batch_id)
        if record is None:
            raise not_found_batch(batch_id)
        return record

    def _snapshot(self, record: BatchRecord) -> JSON:
        publish = self._publish_output(record.output_expires_after)
        with record.lock:
            now = self.clock()
            record.advance(now, publish)
            return record.to_wire(now)

    def get_batch(self, batch_id: str) -> JSON:
        return self._snapshot(self._record(batch_id))

    def retrieve_batch(self, batch_id: str) -> JSON:
        """:meth:`get_batch` for a client's retrieve, which the first few of a batch hit by
        ``batch_404`` answer with 404 (and without advancing it)."""
        record = self._record(batch_id)
        if hide_this_read(record):
            raise not_found_batch(batch_id)
        return self._snapshot(record)

    def list_batches(self, *, after: str | None, limit: int) -> JSON:
        """Newest first; ``after`` is the id of the last batch of the previous page."""
        with self._lock:
            records = sorted(self._batches.values(), key=lambda r: r.seq, reverse=True)
        if after is not None:
            ids = [r.id for r in records]
            records = records[ids.index(after) + 1 :] if after in ids else []
        chosen = records[:limit]
        return page([self._snapshot(r) for r in chosen], len(records) > limit)

    def cancel_batch(self, batch_id: str) -> JSON:
        record = self._record(batch_id)
        publish = self._publish_output(record.output_expires_after)
        with record.lock:
            now = self.clock()
            record.cancel(now, publish)
            return record.to_wire(now)
