"""Batch lifecycle and the in-memory store, driven by a hand-moved clock."""

from __future__ import annotations

import threading
from typing import Any

import orjson
import pytest

from halfrate.sandbox.common.batching import execution_order
from halfrate.sandbox.openai.execute import run_batch
from halfrate.sandbox.openai.validation import validate
from halfrate.sandbox.openai.wire import ApiError
from halfrate.sandbox.state import SandboxState

CHAT = "/v1/chat/completions"
T0 = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def jsonl(n: int, *, bad: set[int] | None = None) -> bytes:
    lines = []
    for i in range(n):
        body: dict[str, Any] = {"model": "gpt-4o-mini"}
        if i not in (bad or set()):
            body["messages"] = [{"role": "user", "content": f"question {i}"}]
        lines.append({"custom_id": f"r{i}", "method": "POST", "url": CHAT, "body": body})
    return b"".join(orjson.dumps(line) + b"\n" for line in lines)


def new_batch(state: SandboxState, data: bytes, **kwargs: Any) -> str:
    file = state.add_file(data, "in.jsonl", "batch")
    options: dict[str, Any] = {"metadata": None, "output_expires_after": None} | kwargs
    batch = state.create_batch(input_file_id=file.id, endpoint=CHAT, **options)
    assert batch["status"] == "validating"
    return str(batch["id"])


def lines_of(state: SandboxState, file_id: str) -> list[dict[str, Any]]:
    return [orjson.loads(x) for x in state.get_file(file_id).data.splitlines()]


def test_counts_move_during_in_progress() -> None:
    clock = Clock()
    state = SandboxState(latency=30, clock=clock)
    batch_id = new_batch(state, jsonl(100, bad={0, 1, 2, 3}))
    assert state.get_batch(batch_id)["request_counts"] == {"total": 0, "completed": 0, "failed": 0}
    seen = []
    for step in range(10, 21):
        clock.now = T0 + step
        counts = state.get_batch(batch_id)["request_counts"]
        seen.append(counts["completed"] + counts["failed"])
        assert counts["total"] == 100
    assert seen == sorted(seen)  # never goes backwards
    assert seen[0] == 0
    assert seen[5] == 50
    final = state.get_batch(batch_id)
    assert final["status"] == "finalizing"
    assert final["request_counts"] == {"total": 100, "completed": 96, "failed": 4}
    clock.now = T0 + 30
    done = state.get_batch(batch_id)
    assert done["status"] == "completed"
    assert done["request_counts"] == {"total": 100, "completed": 96, "failed": 4}
    stamps = [done[k] for k in ("created_at", "in_progress_at", "finalizing_at", "completed_at")]
    assert stamps == [T0, T0 + 10, T0 + 20, T0 + 30]
    assert done["expires_at"] == T0 + 86_400


def test_invalid_file_fails_at_the_end_of_validation() -> None:
    clock = Clock()
    state = SandboxState(latency=9, clock=clock)
    batch_id = new_batch(state, b"not json\n")
    clock.now = T0 + 2.9
    assert state.get_batch(batch_id)["status"] == "validating"
    clock.now = T0 + 3
    failed = state.get_batch(batch_id)
    assert failed["status"] == "failed"
    assert failed["failed_at"] == T0 + 3
    assert failed["in_progress_at"] is None
    assert failed["errors"] == {
        "object": "list",
        "data": [
            {
                "code": "invalid_json_line",
                "message": "This line is not parseable as valid JSON.",
                "param": None,
                "line": 1,
            }
        ],
    }


def test_cancel_in_finalizing_keeps_everything() -> None:
    clock = Clock()
    state = SandboxState(latency=3, clock=clock)
    batch_id = new_batch(state, jsonl(10))
    clock.now = T0 + 2.5
    assert state.cancel_batch(batch_id)["request_counts"]["completed"] == 10
    clock.now = T0 + 3.5
    done = state.get_batch(batch_id)
    assert done["status"] == "cancelled"
    assert done["error_file_id"] is None
    assert len(lines_of(state, done["output_file_id"])) == 10


def test_cancel_with_zero_latency_ends_at_the_next_read() -> None:
    clock = Clock()
    state = SandboxState(latency=0, clock=clock)
    file = state.add_file(jsonl(3), "in.jsonl", "batch")
    batch = state.create_batch(
        input_file_id=file.id, endpoint=CHAT, metadata=None, output_expires_after=None
    )
    # Even a cancel reads the batch first, and at latency 0 that read completes it.
    with pytest.raises(ApiError, match="already ended"):
        state.cancel_batch(batch["id"])


def test_expiry_keeps_finished_work() -> None:
    clock = Clock()
    state = SandboxState(latency=3 * 86_400, clock=clock)  # in progress from +1 day to +2 days
    batch_id = new_batch(state, jsonl(40))
    clock.now = T0 + 86_400 * 3
    expired = state.get_batch(batch_id)
    assert expired["status"] == "expired"
    assert expired["expired_at"] == T0 + 86_400
    assert expired["request_counts"] == {"total": 40, "completed": 0, "failed": 40}
    codes = {line["error"]["code"] for line in lines_of(state, expired["error_file_id"])}
    assert codes == {"batch_expired"}


def test_concurrent_reads_run_the_batch_once() -> None:
    state = SandboxState(latency=0)
    batch_id = new_batch(state, jsonl(500))
    results: list[dict[str, Any]] = []
    threads = [
        threading.Thread(target=lambda: results.append(state.get_batch(batch_id))) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {r["output_file_id"] for r in results} != {None}
    assert len({r["output_file_id"] for r in results}) == 1
    outputs = state.list_files(purpose="batch_output", after=None, limit=100, descending=True)
    assert len(outputs["data"]) == 1


def test_output_files_expiry() -> None:
    clock = Clock()
    state = SandboxState(latency=0, clock=clock)
    batch_id = new_batch(state, jsonl(2), output_expires_after=3600)
    done = state.get_batch(batch_id)
    output = state.get_file(done["output_file_id"])
    assert output.expires_at == int(T0) + 3600
    assert output.purpose == "batch_output"
    clock.now = T0 + 3600
    with pytest.raises(ApiError) as caught:
        state.get_file(done["output_file_id"])
    assert caught.value.status == 404


def test_metadata_is_kept() -> None:
    state = SandboxState()
    batch_id = new_batch(state, jsonl(1), metadata={"job": "42"})
    assert state.get_batch(batch_id)["metadata"] == {"job": "42"}


def test_input_file_must_have_purpose_batch() -> None:
    state = SandboxState()
    file = state.add_file(jsonl(1), "in.jsonl", "user_data")
    with pytest.raises(ApiError, match="purpose 'batch'"):
        state.create_batch(
            input_file_id=file.id, endpoint=CHAT, metadata=None, output_expires_after=None
        )


def test_shuffle_is_deterministic_per_batch() -> None:
    assert execution_order("batch_a", 50) == execution_order("batch_a", 50)
    assert execution_order("batch_a", 50) != execution_order("batch_b", 50)
    assert sorted(execution_order("batch_a", 50)) == list(range(50))


def test_run_batch_is_byte_for_byte_repeatable() -> None:
    tasks = validate(jsonl(30, bad={3}), CHAT).tasks
    first = run_batch("batch_x", CHAT, tasks, created=5)
    again = run_batch("batch_x", CHAT, tasks, created=5)
    assert (first.output, first.errors) == (again.output, again.errors)
    assert (first.completed, first.failed) == (29, 1)
    partial = run_batch("batch_x", CHAT, tasks, created=5, done=10)
    assert partial.completed + partial.failed == 30
    assert partial.output.splitlines() == first.output.splitlines()[: partial.completed]
