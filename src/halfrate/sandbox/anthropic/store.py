"""The Message Batches of one sandbox app, in memory, behind a lock.

See docs/anthropic-batches.md#endpoints.

Lock order as on the OpenAI side: a batch's own lock may be held while running it, the store
lock only for dictionary work. Methods return wire dicts; ``base_url`` is the sandbox's own
address as the client reached it, so ``results_url`` points back at this sandbox.
"""

from __future__ import annotations

import itertools
import threading
from typing import TYPE_CHECKING

import orjson

from halfrate.sandbox.anthropic.batches import MessageBatchRecord
from halfrate.sandbox.anthropic.wire import AnthropicError, invalid, new_batch_id, not_found
from halfrate.sandbox.common.jsondata import JSON
from halfrate.sandbox.faults.dice import content_digest, hide_this_read

if TYPE_CHECKING:
    from halfrate.sandbox.state import SandboxState


def batch_not_found(batch_id: str) -> AnthropicError:
    return not_found(f"message_batch_id: no Message Batch found with id '{batch_id}'")


class MessageBatchStore:
    def __init__(self, state: SandboxState) -> None:
        self._state = state  # the app's clock, knobs, prompt cache and ledger
        self._lock = threading.Lock()
        self._seq = itertools.count(1)
        self._batches: dict[str, MessageBatchRecord] = {}

    def create(self, requests: list[tuple[str, JSON]], version: str, base_url: str) -> JSON:
        state = self._state
        plan = state.dice.plan("anthropic", lambda: content_digest(orjson.dumps(requests)))
        now = state.clock()
        record = MessageBatchRecord(
            id=new_batch_id(),
            requests=requests,
            version=version,
            created=now,
            seq=0,
            latency=state.latency,
            window=state.window,
            cancel_latency=state.cancel_latency,
            cache=state.prompt_cache,
            ledger=state.ledger,
            plan=plan,
            dice=state.dice,
            hidden_reads=plan.hidden_reads,
        )
        with self._lock:
            record.seq = next(self._seq)
            self._batches[record.id] = record
        # Answer in_progress even with latency 0: the first read ends it, as on the OpenAI side.
        with record.lock:
            return record.to_wire(now, base_url)

    def _record(self, batch_id: str) -> MessageBatchRecord:
        with self._lock:
            record = self._batches.get(batch_id)
        if record is None:
            raise batch_not_found(batch_id)
        return record

    def _snapshot(self, record: MessageBatchRecord, base_url: str) -> JSON:
        with record.lock:
            now = self._state.clock()
            record.advance(now)
            return record.to_wire(now, base_url)

    def get(self, batch_id: str, base_url: str) -> JSON:
        """A client's retrieve; the first few of a batch hit by ``batch_404`` answer 404."""
        record = self._record(batch_id)
        if hide_this_read(record):
            raise batch_not_found(batch_id)
        return self._snapshot(record, base_url)

    def list_batches(
        self, *, after_id: str | None, before_id: str | None, limit: int, base_url: str
    ) -> JSON:
        """Newest first. ``after_id``: the page after that batch (older ones); ``before_id``:
        the page just before it (newer ones), still newest first."""
        if after_id is not None and before_id is not None:
            raise invalid("after_id and before_id cannot be used together")
        with self._lock:
            records = sorted(self._batches.values(), key=lambda r: r.seq, reverse=True)
        ids = [r.id for r in records]
        if before_id is not None:
            end = ids.index(before_id) if before_id in ids else 0
            chosen = records[max(0, end - limit) : end]
            has_more = end > limit
        else:
            if after_id is None:
                begin = 0
            else:  # an unknown cursor has nothing after it
                begin = ids.index(after_id) + 1 if after_id in ids else len(records)
            chosen = records[begin : begin + limit]
            has_more = begin + limit < len(records)
        data = [self._snapshot(r, base_url) for r in chosen]
        return {
            "data": data,
            "has_more": has_more,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }

    def cancel(self, batch_id: str, base_url: str) -> JSON:
        record = self._record(batch_id)
        with record.lock:
            now = self._state.clock()
            record.cancel(now)
            return record.to_wire(now, base_url)

    def delete(self, batch_id: str) -> JSON:
        record = self._record(batch_id)
        with record.lock:
            record.advance(self._state.clock())
            if record.status != "ended":
                raise invalid(
                    f"Message Batch {batch_id} is still processing and cannot be deleted; "
                    "cancel it first and wait until it has ended."
                )
        with self._lock:
            self._batches.pop(batch_id, None)
        return {"id": batch_id, "type": "message_batch_deleted"}

    def results(self, batch_id: str) -> bytes:
        """The results JSONL of an ended batch."""
        record = self._record(batch_id)
        with record.lock:
            now = self._state.clock()
            record.advance(now)
            if record.status != "ended":
                raise invalid(
                    f"Message Batch {batch_id} has not ended yet; its results are available "
                    "once processing_status is 'ended'."
                )
            if record.results is None:
                raise not_found(
                    f"The results of Message Batch {batch_id} are no longer available: they "
                    "were archived 29 days after the batch was created."
                )
            return record.results
