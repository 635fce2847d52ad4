"""Anthropic Message Batch and line faults through the real ``anthropic`` SDK: the results the
client reads, and a ledger that stays exact under all of them, in-process and over loopback."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import anthropic
import httpx2
import pytest
from anthropic.types.messages import MessageBatch, MessageBatchIndividualResponse

from halfrate.sandbox import InProcessTransport, SandboxServer, anthropic_client, create_app

MODEL = "claude-haiku-4-5"
T0 = 1_800_000_000.0
ROOT = "http://sandbox.local"
LEDGER = "/_sandbox/ledger"


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def request(i: int) -> Any:
    params = {
        "model": MODEL,
        "max_tokens": 32,
        "messages": [{"role": "user", "content": f"Question {i}"}],
    }
    return {"custom_id": f"req-{i}", "params": params}


Entries = Callable[[], list[dict[str, Any]]]


@contextmanager
def sdk(
    faults: str, latency: float = 0.0, clock: FakeClock | None = None
) -> Iterator[tuple[anthropic.Anthropic, Entries]]:
    """A client of a new sandbox app (no SDK retries), and a reader of the app's ledger over
    its keyless ``/_sandbox/ledger`` endpoint."""
    app = create_app(latency, clock=clock, faults=faults)
    transport = InProcessTransport(app)
    with anthropic_client(app) as client, httpx2.Client(transport=transport, base_url=ROOT) as http:
        yield client.with_options(max_retries=0), lambda: http.get(LEDGER).json()["entries"]


def wait(client: anthropic.Anthropic, batch_id: str) -> MessageBatch:
    """Poll until the batch ends; a 404 right after create is not final."""
    for _ in range(500):
        try:
            batch = client.messages.batches.retrieve(batch_id)
        except anthropic.NotFoundError:
            continue
        if batch.processing_status == "ended":
            return batch
        time.sleep(0.01)
    raise AssertionError(f"batch {batch_id} did not end")


def results(client: anthropic.Anthropic, batch_id: str) -> list[MessageBatchIndividualResponse]:
    return list(client.messages.batches.results(batch_id))


@pytest.mark.parametrize(
    ("kind", "error_type"),
    [
        ("line_429", "rate_limit_error"),
        ("line_500", "api_error"),
        ("line_invalid", "invalid_request_error"),
    ],
)
def test_failing_requests_are_errored_results(kind: str, error_type: str) -> None:
    with sdk(f"{kind}=1") as (client, ledger):
        batch = wait(client, client.messages.batches.create(requests=[request(0), request(1)]).id)
        assert batch.request_counts.errored == 2
        lines = results(client, batch.id)
        raw = client.messages.batches.with_raw_response.results(batch.id)
        entries = ledger()
    assert raw.http_response.status_code == 200
    assert sorted(x.custom_id for x in lines) == ["req-0", "req-1"]
    for x in lines:
        assert x.result.type == "errored"
        error = x.result.error
        assert error.type == "error"
        assert error.error.type == error_type
        assert error.request_id is not None
        assert error.request_id.startswith("req_011")
    assert [(e["status"], e["charged"], e["fault"]) for e in entries] == [
        ("errored", False, kind)
    ] * 2


def test_duplicated_results_are_charged_once() -> None:
    with sdk("duplicate_lines=1") as (client, ledger):
        created = client.messages.batches.create(requests=[request(i) for i in range(4)])
        batch = wait(client, created.id)
        lines = results(client, batch.id)
        entries = ledger()
    assert batch.request_counts.succeeded == 4  # counted once each
    assert Counter(x.custom_id for x in lines) == {f"req-{i}": 2 for i in range(4)}
    by_id: dict[str, list[str]] = {}
    for x in lines:
        by_id.setdefault(x.custom_id, []).append(x.model_dump_json())
    assert all(first == again for first, again in by_id.values())
    assert [(e["charged"], e["fault"]) for e in entries] == [(True, "duplicate_lines")] * 4


def test_missing_requests_have_no_result_and_no_charge() -> None:
    with sdk("missing_lines=0.5,seed=4") as (client, ledger):
        created = client.messages.batches.create(requests=[request(i) for i in range(12)])
        batch = wait(client, created.id)
        seen = {x.custom_id for x in results(client, batch.id)}
        entries = ledger()
    lost = {e["custom_id"] for e in entries if e["status"] == "missing"}
    assert lost
    assert seen.isdisjoint(lost)
    assert seen | lost == {f"req-{i}": None for i in range(12)}.keys()
    assert not any(e["charged"] for e in entries if e["custom_id"] in lost)
    counts = batch.request_counts
    assert counts.processing == 0
    # The counts still add up to the batch's requests (the API's own invariant, by which a
    # client recognises its batch by size): a missing request is counted errored.
    assert counts.succeeded + counts.errored + counts.canceled + counts.expired == 12
    assert counts.errored >= len(lost)


def test_expire_partway_ends_with_the_rest_expired() -> None:
    clock = FakeClock()
    with sdk("expire_partway=1", latency=40.0, clock=clock) as (client, ledger):
        created = client.messages.batches.create(requests=[request(i) for i in range(9)])
        clock.now = T0 + 19
        assert client.messages.batches.retrieve(created.id).processing_status == "in_progress"
        clock.now = T0 + 20
        batch = client.messages.batches.retrieve(created.id)
        lines = results(client, batch.id)
        entries = ledger()
    assert batch.processing_status == "ended"
    assert batch.ended_at is not None
    assert batch.ended_at.timestamp() == T0 + 20
    assert (batch.request_counts.succeeded, batch.request_counts.expired) == (4, 5)
    assert Counter(x.result.type for x in lines) == {"succeeded": 4, "expired": 5}
    ran = {x.custom_id for x in lines if x.result.type == "succeeded"}
    assert {e["custom_id"] for e in entries if e["charged"]} == ran
    unpaid = [(e["status"], e["fault"]) for e in entries if not e["charged"]]
    assert unpaid == [("expired", "expire_partway")] * 5


def test_slow_finalizing_ends_the_batch_later() -> None:
    clock = FakeClock()
    with sdk("slow_finalizing=1,finalizing_seconds=3", latency=10.0, clock=clock) as (
        client,
        ledger,
    ):
        created = client.messages.batches.create(requests=[request(0)])
        clock.now = T0 + 12.9
        assert client.messages.batches.retrieve(created.id).processing_status == "in_progress"
        clock.now = T0 + 13
        batch = client.messages.batches.retrieve(created.id)
        entries = ledger()
    assert batch.processing_status == "ended"
    assert batch.ended_at is not None
    assert batch.ended_at.timestamp() == T0 + 13
    assert batch.results_url is not None
    assert [e["at"] for e in entries] == [T0 + 10]  # it ran on time; only the end was late


def test_batch_404_then_found_and_its_results() -> None:
    with sdk("batch_404=1,not_found_tries=3") as (client, _):
        created = client.messages.batches.create(requests=[request(0)])
        for _ in range(3):
            with pytest.raises(anthropic.NotFoundError) as caught:
                client.messages.batches.retrieve(created.id)
            body: Any = caught.value.body
            assert body["type"] == "error"
            assert body["error"]["type"] == "not_found_error"
            assert created.id in body["error"]["message"]
        assert client.messages.batches.retrieve(created.id).processing_status == "ended"
        assert [x.result.type for x in results(client, created.id)] == ["succeeded"]


def test_batch_invalid_is_openai_only() -> None:
    with sdk("batch_invalid=1") as (client, _):
        batch = wait(client, client.messages.batches.create(requests=[request(0)]).id)
    assert batch.request_counts.succeeded == 1


SPEC = (
    "line_429=0.1,line_500=0.1,line_invalid=0.05,duplicate_lines=0.2,missing_lines=0.1,"
    "expire_partway=0.4,slow_finalizing=0.3,batch_404=0.3,finalizing_seconds=0.03,seed=5"
)


@pytest.fixture(params=["in-process", "loopback"])
def faulty(request: pytest.FixtureRequest) -> Iterator[tuple[anthropic.Anthropic, Entries]]:
    if request.param == "in-process":
        with sdk(SPEC) as pair:
            yield pair
        return
    with SandboxServer(faults=SPEC) as server, anthropic_client(server) as client:
        url = server.root_url + LEDGER
        yield client.with_options(max_retries=0), lambda: httpx2.get(url).json()["entries"]


def test_each_succeeded_custom_id_is_charged_once_across_faulty_batches(
    faulty: tuple[anthropic.Anthropic, Entries],
) -> None:
    client, ledger = faulty
    pending = {f"req-{i}": request(i) for i in range(50)}
    succeeded: set[str] = set()
    refused: set[str] = set()
    batch_ids: set[str] = set()
    duplicates = 0
    while pending:
        assert len(batch_ids) < 30
        created = client.messages.batches.create(requests=list(pending.values()))
        batch_ids.add(wait(client, created.id).id)
        for x in results(client, created.id):
            if x.result.type == "succeeded":
                duplicates += x.custom_id in succeeded
                succeeded.add(x.custom_id)
                pending.pop(x.custom_id, None)
            elif (
                x.result.type == "errored" and x.result.error.error.type == "invalid_request_error"
            ):
                refused.add(x.custom_id)  # final: the same body would fail again
                pending.pop(x.custom_id, None)
    entries = ledger()
    assert len(batch_ids) > 2
    assert duplicates > 0
    assert len(succeeded) + len(refused) == 50
    charged = [e for e in entries if e["charged"]]
    assert Counter(e["custom_id"] for e in charged) == dict.fromkeys(succeeded, 1)
    assert all(e["batch_id"] in batch_ids for e in charged)
    unpaid = {e["fault"] for e in entries if not e["charged"]}
    assert {"line_429", "line_500", "line_invalid", "missing_lines", "expire_partway"} <= unpaid


def test_ledger_over_loopback_matches_the_app() -> None:
    with (
        SandboxServer(faults="duplicate_lines=1,missing_lines=0.3,seed=2") as server,
        anthropic_client(server) as client,
    ):
        created = client.messages.batches.create(requests=[request(i) for i in range(6)])
        wait(client, created.id)
        over_http = httpx2.get(server.root_url + "/_sandbox/ledger").json()
        assert over_http == {"entries": server.app.state.sandbox.ledger.entries()}
    assert {e["fault"] for e in over_http["entries"]} == {"duplicate_lines", "missing_lines"}
