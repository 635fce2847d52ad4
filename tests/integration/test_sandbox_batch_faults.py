"""OpenAI batch and line faults through the real ``openai`` SDK: what the client sees on the
wire, and a ledger that stays exact (each succeeded line charged once) under all of them."""

from __future__ import annotations

import io
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final

import httpx2
import openai
import orjson
import pytest
from openai.types import Batch

from halfrate.sandbox import InProcessTransport, SandboxServer, create_app, openai_client

CHAT: Final = "/v1/chat/completions"
ROOT = "http://sandbox.local"
LEDGER = "/_sandbox/ledger"
T0 = 1_800_000_000.0
TERMINAL = ("completed", "failed", "expired", "cancelled")


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def line(i: int) -> dict[str, Any]:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"Question {i}"}]}
    return {"custom_id": f"req-{i}", "method": "POST", "url": CHAT, "body": body}


def jsonl(lines: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(x) + b"\n" for x in lines)


def start(client: openai.OpenAI, lines: list[dict[str, Any]]) -> Batch:
    file = client.files.create(file=("in.jsonl", io.BytesIO(jsonl(lines))), purpose="batch")
    return client.batches.create(input_file_id=file.id, endpoint=CHAT, completion_window="24h")


def download(client: openai.OpenAI, file_id: str | None) -> list[dict[str, Any]]:
    if file_id is None:
        return []
    with client.files.with_streaming_response.content(file_id) as response:
        return [orjson.loads(x) for x in response.iter_lines() if x]


def wait(client: openai.OpenAI, batch_id: str) -> Batch:
    """Poll until the batch ends, as a client must: a 404 right after create is not final."""
    for _ in range(500):
        try:
            batch = client.batches.retrieve(batch_id)
        except openai.NotFoundError:
            continue
        if batch.status in TERMINAL:
            return batch
        time.sleep(0.01)
    raise AssertionError(f"batch {batch_id} did not end")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


Entries = Callable[[], list[dict[str, Any]]]


@contextmanager
def sdk(
    faults: str, latency: float = 0.0, clock: FakeClock | None = None
) -> Iterator[tuple[openai.OpenAI, Entries]]:
    """A client of a new sandbox app (no SDK retries), and a reader of the app's ledger over
    its keyless ``/_sandbox/ledger`` endpoint."""
    app = create_app(latency, clock=clock, faults=faults)
    transport = InProcessTransport(app)
    with openai_client(app) as client, httpx2.Client(transport=transport, base_url=ROOT) as http:
        yield client.with_options(max_retries=0), lambda: http.get(LEDGER).json()["entries"]


@pytest.mark.parametrize(
    ("kind", "status", "error_type", "code"),
    [
        ("line_429", 429, "requests", "rate_limit_exceeded"),
        ("line_500", 500, "server_error", None),
        ("line_invalid", 400, "invalid_request_error", None),
    ],
)
def test_failing_lines_are_error_file_lines_with_an_http_status(
    kind: str, status: int, error_type: str, code: str | None
) -> None:
    with sdk(f"{kind}=1") as (client, ledger):
        batch = wait(client, start(client, [line(i) for i in range(5)]).id)
        assert batch.status == "completed"  # line failures never fail the batch
        assert batch.request_counts is not None
        counts = batch.request_counts
        assert (counts.total, counts.completed, counts.failed) == (5, 0, 5)
        assert batch.output_file_id is None
        errors = download(client, batch.error_file_id)
        assert sorted(x["custom_id"] for x in errors) == [f"req-{i}" for i in range(5)]
        for x in errors:
            assert set(x) == {"id", "custom_id", "response", "error"}
            assert x["error"] is None
            response = x["response"]
            assert response["status_code"] == status
            assert response["request_id"].startswith("req_")
            assert set(response["body"]["error"]) == {"message", "type", "param", "code"}
            assert response["body"]["error"]["type"] == error_type
            assert response["body"]["error"]["code"] == code
        entries = ledger()
    assert [(e["status"], e["charged"], e["fault"]) for e in entries] == [(status, False, kind)] * 5
    assert all(e["input_tokens"] == e["output_tokens"] == 0 for e in entries)


def test_a_failed_line_sent_again_in_a_later_batch_can_succeed() -> None:
    with sdk("line_500=0.5,seed=11") as (client, ledger):
        pending = [line(i) for i in range(30)]
        rounds = []
        while pending:
            batch = wait(client, start(client, pending).id)
            failed = {x["custom_id"] for x in download(client, batch.error_file_id)}
            rounds.append(len(failed))
            pending = [x for x in pending if x["custom_id"] in failed]
            assert len(rounds) < 12
        entries = ledger()
    assert rounds[0] > 0
    assert len(rounds) > 1
    charged = Counter(e["custom_id"] for e in entries if e["charged"])
    assert charged == dict.fromkeys((f"req-{i}" for i in range(30)), 1)
    assert sum(1 for e in entries if e["fault"] == "line_500") == sum(rounds)


def test_duplicated_lines_appear_twice_and_are_charged_once() -> None:
    with sdk("duplicate_lines=1") as (client, ledger):
        batch = wait(client, start(client, [line(i) for i in range(6)]).id)
        assert batch.request_counts is not None
        assert (batch.request_counts.completed, batch.request_counts.failed) == (6, 0)
        out = download(client, batch.output_file_id)
        entries = ledger()
    assert len(out) == 12
    assert Counter(x["custom_id"] for x in out) == dict.fromkeys((f"req-{i}" for i in range(6)), 2)
    first, again = out[:6], out[6:]
    assert sorted(first, key=str) == sorted(again, key=str)  # the very same lines
    assert [(e["charged"], e["fault"]) for e in entries] == [(True, "duplicate_lines")] * 6
    assert batch.usage is not None
    assert batch.usage.input_tokens == sum(e["input_tokens"] for e in entries)
    assert sum(x["response"]["body"]["usage"]["prompt_tokens"] for x in first) == (
        batch.usage.input_tokens
    )


def test_missing_lines_are_in_no_file_and_not_charged() -> None:
    with sdk("missing_lines=0.4,line_429=0.2,seed=2") as (client, ledger):
        batch = wait(client, start(client, [line(i) for i in range(20)]).id)
        seen = {
            x["custom_id"]
            for file_id in (batch.output_file_id, batch.error_file_id)
            for x in download(client, file_id)
        }
        entries = ledger()
    lost = {e["custom_id"] for e in entries if e["status"] == "missing"}
    assert lost
    assert seen.isdisjoint(lost)
    assert seen | lost == {f"req-{i}" for i in range(20)}
    lost_entries = [e for e in entries if e["custom_id"] in lost]
    assert all(not e["charged"] and e["fault"] == "missing_lines" for e in lost_entries)
    assert batch.request_counts is not None
    counts = batch.request_counts
    assert counts.total == 20
    assert counts.completed + counts.failed == 20 - len(lost)  # counted neither way


def test_batch_invalid_fails_validation_naming_some_lines() -> None:
    with sdk("batch_invalid=1") as (client, ledger):
        batch = wait(client, start(client, [line(i) for i in range(8)]).id)
        entries = ledger()
    assert batch.status == "failed"
    assert batch.failed_at is not None
    assert batch.errors is not None
    assert batch.errors.data is not None
    assert 1 <= len(batch.errors.data) <= 3
    for error in batch.errors.data:
        assert error.code == "invalid_request"
        assert error.line is not None
        assert 1 <= error.line <= 8
        assert error.message
    assert (batch.output_file_id, batch.error_file_id) == (None, None)
    assert batch.request_counts is not None
    assert batch.request_counts.total == 0
    assert entries == []  # nothing ran, nothing charged


def test_batch_invalid_at_half_rate_lets_a_resubmission_through() -> None:
    with sdk("batch_invalid=0.5,seed=1") as (client, _):
        statuses = [wait(client, start(client, [line(0), line(1)]).id).status for _ in range(8)]
    assert set(statuses) == {"failed", "completed"}


def test_expire_partway_keeps_the_finished_half(clock: FakeClock) -> None:
    with sdk("expire_partway=1", latency=30.0, clock=clock) as (client, ledger):
        batch = start(client, [line(i) for i in range(10)])
        clock.now = T0 + 12
        assert client.batches.retrieve(batch.id).status == "in_progress"
        clock.now = T0 + 15
        ended = client.batches.retrieve(batch.id)
        assert ended.status == "expired"
        assert ended.expired_at == T0 + 15
        out = download(client, ended.output_file_id)
        errors = download(client, ended.error_file_id)
        entries = ledger()
    assert len(out) == 5
    assert all(x["response"]["status_code"] == 200 for x in out)
    assert len(errors) == 5
    for x in errors:
        assert x["response"] is None
        assert x["error"]["code"] == "batch_expired"
    assert ended.request_counts is not None
    assert (ended.request_counts.completed, ended.request_counts.failed) == (5, 5)
    charged = {e["custom_id"] for e in entries if e["charged"]}
    assert charged == {x["custom_id"] for x in out}
    unpaid = [(e["status"], e["fault"]) for e in entries if not e["charged"]]
    assert unpaid == [("batch_expired", "expire_partway")] * 5


def test_slow_finalizing_holds_the_batch_in_finalizing(clock: FakeClock) -> None:
    with sdk("slow_finalizing=1", clock=clock) as (client, _):
        batch = start(client, [line(0), line(1)])
        first = client.batches.retrieve(batch.id)
        assert first.status == "finalizing"
        assert first.request_counts is not None
        assert first.request_counts.completed == 2  # the lines have run
        assert first.output_file_id is None
        clock.now = T0 + 1.99
        assert client.batches.retrieve(batch.id).status == "finalizing"
        clock.now = T0 + 2
        done = client.batches.retrieve(batch.id)
    assert done.status == "completed"
    assert (done.finalizing_at, done.completed_at) == (T0, T0 + 2)
    assert done.output_file_id is not None


def test_batch_404_answers_not_found_then_the_batch() -> None:
    with sdk("batch_404=1") as (client, _):
        batch = start(client, [line(0)])
        for _ in range(2):  # not_found_tries defaults to 2
            with pytest.raises(openai.NotFoundError) as caught:
                client.batches.retrieve(batch.id)
            assert caught.value.status_code == 404
            assert caught.value.body == {
                "message": f"No batch found with id '{batch.id}'.",
                "type": "invalid_request_error",
                "param": "batch_id",
                "code": None,
            }
        assert client.batches.retrieve(batch.id).status == "completed"
        assert [b.id for b in client.batches.list()] == [batch.id]  # listing is not hidden


def test_not_found_tries_sets_how_many_retrieves_miss() -> None:
    with sdk("batch_404=1,not_found_tries=4") as (client, _):
        batch = start(client, [line(0)])
        misses = 0
        while True:
            try:
                client.batches.retrieve(batch.id)
                break
            except openai.NotFoundError:
                misses += 1
    assert misses == 4


SPEC = (
    "line_429=0.1,line_500=0.1,line_invalid=0.05,duplicate_lines=0.2,missing_lines=0.1,"
    "batch_invalid=0.2,expire_partway=0.5,slow_finalizing=0.3,batch_404=0.3,"
    "finalizing_seconds=0.03,seed=17"
)


@dataclass
class Outcome:
    history: list[tuple[str, int, int, int]] = field(default_factory=list)  # status, counts
    batch_ids: set[str] = field(default_factory=set)
    succeeded: set[str] = field(default_factory=set)
    refused: set[str] = field(default_factory=set)
    duplicates: int = 0


def resubmit_until_done(client: openai.OpenAI, n: int) -> Outcome:
    """A client that resubmits whatever did not succeed, until each line succeeded or was
    refused as invalid (a 400 line is final)."""
    pending = {f"req-{i}": line(i) for i in range(n)}
    seen = Outcome()
    while pending:
        assert len(seen.history) < 30
        batch = wait(client, start(client, list(pending.values())).id)
        seen.batch_ids.add(batch.id)
        counts = batch.request_counts
        assert counts is not None
        seen.history.append((batch.status, counts.total, counts.completed, counts.failed))
        for x in download(client, batch.output_file_id):
            if x["custom_id"] in seen.succeeded:
                seen.duplicates += 1
            seen.succeeded.add(x["custom_id"])
            pending.pop(x["custom_id"], None)
        for x in download(client, batch.error_file_id):
            response = x["response"]
            if response is not None and response["status_code"] == 400:
                seen.refused.add(x["custom_id"])
                pending.pop(x["custom_id"], None)
    return seen


@pytest.fixture(params=["in-process", "loopback"])
def faulty(request: pytest.FixtureRequest) -> Iterator[tuple[openai.OpenAI, Entries]]:
    if request.param == "in-process":
        with sdk(SPEC) as pair:
            yield pair
        return
    with SandboxServer(faults=SPEC) as server, openai_client(server) as client:
        url = server.root_url + LEDGER
        yield client.with_options(max_retries=0), lambda: httpx2.get(url).json()["entries"]


def test_each_succeeded_custom_id_is_charged_once_across_faulty_batches(
    faulty: tuple[openai.OpenAI, Entries],
) -> None:
    """Every fault at once, over several batches: one charge per success, none otherwise."""
    client, ledger = faulty
    seen = resubmit_until_done(client, 60)
    entries = ledger()
    statuses = {status for status, *_ in seen.history}
    assert statuses == {"completed", "failed", "expired"}
    assert seen.duplicates > 0
    assert len(seen.succeeded) + len(seen.refused) == 60
    charged = [e for e in entries if e["charged"]]
    assert Counter(e["custom_id"] for e in charged) == dict.fromkeys(seen.succeeded, 1)
    assert all(e["batch_id"] in seen.batch_ids and e["kind"] == "batch" for e in charged)
    assert all(e["input_tokens"] > 0 for e in charged)
    unpaid = {e["fault"] for e in entries if not e["charged"]}
    assert {"line_429", "line_500", "line_invalid", "missing_lines", "expire_partway"} <= unpaid
    assert not any(e["charged"] for e in entries if e["custom_id"] in seen.refused)


def test_the_same_seed_gives_the_same_story_in_process_and_over_loopback() -> None:
    with sdk(SPEC) as (client, _):
        in_process = resubmit_until_done(client, 60)
    with SandboxServer(faults=SPEC) as server, openai_client(server) as client:
        loopback = resubmit_until_done(client.with_options(max_retries=0), 60)
    assert in_process.history == loopback.history
    assert in_process.succeeded == loopback.succeeded
    assert in_process.refused == loopback.refused
    assert in_process.duplicates == loopback.duplicates


def test_the_loopback_ledger_endpoint_is_never_faulted() -> None:
    spec = "http_500=1,line_500=1,batch_404=1"
    with SandboxServer(faults=spec) as server:
        for _ in range(3):
            response = httpx2.get(server.root_url + "/_sandbox/ledger")
            assert response.status_code == 200
            assert response.json() == {"entries": []}
