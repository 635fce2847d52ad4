"""HTTP faults on the file and batch endpoints (``http_429``, ``http_500``, ``http_timeout``) and
``file_not_found``, through the real SDKs, in-process and over loopback."""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from typing import Any, Final

import anthropic
import httpx2
import openai
import orjson
import pytest
from fastapi import FastAPI

from halfrate.sandbox import InProcessTransport, SandboxServer, anthropic_client, create_app
from halfrate.sandbox import openai_client as make_openai_client
from halfrate.sandbox.state import SandboxState

CHAT: Final = "/v1/chat/completions"
AUTH = {"Authorization": "Bearer test"}
DATA = b"".join(
    orjson.dumps(
        {
            "custom_id": f"req-{i}",
            "method": "POST",
            "url": CHAT,
            "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"q{i}"}]},
        }
    )
    + b"\n"
    for i in range(3)
)
CLAUDE: Any = {
    "model": "claude-haiku-4-5",
    "max_tokens": 16,
    "messages": [{"role": "user", "content": "hi"}],
}


def state_of(app: FastAPI) -> SandboxState:
    state: SandboxState = app.state.sandbox
    return state


def batch_count(app: FastAPI) -> int:
    return len(state_of(app).list_batches(after=None, limit=100)["data"])


def upload(client: openai.OpenAI) -> str:
    return client.files.create(file=("in.jsonl", io.BytesIO(DATA)), purpose="batch").id


def test_http_429_refuses_every_file_and_batch_call_before_doing_anything() -> None:
    app = create_app(faults="http_429=1,retry_after=0.25")
    existing = state_of(app).upload_file(DATA, "in.jsonl", "batch").id
    calls: dict[str, Callable[[openai.OpenAI], object]] = {
        "upload": upload,
        "file": lambda c: c.files.retrieve(existing),
        "content": lambda c: c.files.content(existing),
        "files": lambda c: c.files.list(),
        "create": lambda c: c.batches.create(
            input_file_id=existing, endpoint=CHAT, completion_window="24h"
        ),
        "batches": lambda c: c.batches.list(),
        "batch": lambda c: c.batches.retrieve("batch_x"),
        "cancel": lambda c: c.batches.cancel("batch_x"),
    }
    with make_openai_client(app) as client:
        quick = client.with_options(max_retries=0)
        for name, call in calls.items():
            with pytest.raises(openai.RateLimitError) as caught:
                call(quick)
            headers = caught.value.response.headers
            assert (headers["retry-after"], headers["retry-after-ms"]) == ("0.25", "250"), name
            assert caught.value.body == {
                "message": "Rate limit reached for requests (halfrate sandbox fault injection). "
                "Please try again in 0.25s.",
                "type": "requests",
                "param": None,
                "code": "rate_limit_exceeded",
            }
        # The synchronous endpoints have their own faults, and none of these.
        answer = quick.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
        assert answer.choices[0].message.content
    assert batch_count(app) == 0
    files = state_of(app).list_files(purpose=None, after=None, limit=100, descending=True)
    assert [f["id"] for f in files["data"]] == [existing]  # the refused upload stored nothing


def test_http_500_on_anthropic_in_its_own_shape_and_nothing_created() -> None:
    app = create_app(faults="http_500=1")
    with anthropic_client(app) as client:
        quick = client.with_options(max_retries=0)
        with pytest.raises(anthropic.InternalServerError) as caught:
            quick.messages.batches.create(requests=[{"custom_id": "a", "params": CLAUDE}])
        body: Any = caught.value.body
        assert body["type"] == "error"
        assert body["error"]["type"] == "api_error"
        assert body["request_id"] == caught.value.response.headers["request-id"]
        for call in (
            lambda: quick.messages.batches.list(),
            lambda: quick.messages.batches.retrieve("msgbatch_x"),
            lambda: quick.messages.batches.cancel("msgbatch_x"),
        ):
            with pytest.raises(anthropic.InternalServerError):
                call()
        assert quick.messages.create(**CLAUDE).content  # sync calls are not touched
    assert (
        state_of(app).message_batches.list_batches(
            after_id=None, before_id=None, limit=100, base_url=""
        )["data"]
        == []
    )


def test_sdk_retries_ride_through_and_create_each_batch_once() -> None:
    app = create_app(faults="http_429=0.4,http_500=0.3,retry_after=0.001,seed=5")
    with make_openai_client(app) as oa, anthropic_client(app) as an:
        oa, an = oa.with_options(max_retries=8), an.with_options(max_retries=8)
        file_id = upload(oa)
        batch = oa.batches.create(input_file_id=file_id, endpoint=CHAT, completion_window="24h")
        done = oa.batches.retrieve(batch.id)
        assert done.status == "completed"
        assert done.output_file_id is not None
        assert len(oa.files.content(done.output_file_id).text.splitlines()) == 3
        created = an.messages.batches.create(requests=[{"custom_id": "a", "params": CLAUDE}])
        an.messages.batches.retrieve(created.id)
        assert [x.result.type for x in an.messages.batches.results(created.id)] == ["succeeded"]
    assert batch_count(app) == 1
    faults = [e["fault"] for e in state_of(app).ledger.entries()]
    assert faults == [None] * 4  # the HTTP faults are not on the ledger: nothing ran


def serve(spec: str, mode: str) -> Iterator[tuple[FastAPI, str | None]]:
    if mode == "in-process":
        yield create_app(faults=spec), None
        return
    with SandboxServer(faults=spec) as server:
        yield server.app, server.root_url


@pytest.fixture(params=["in-process", "loopback"])
def timeout_app(request: pytest.FixtureRequest) -> Iterator[tuple[FastAPI, str | None]]:
    yield from serve("http_timeout=1,timeout_seconds=0.5", request.param)


@pytest.fixture(params=["in-process", "loopback"])
def short_hold_app(request: pytest.FixtureRequest) -> Iterator[tuple[FastAPI, str | None]]:
    yield from serve("http_timeout=1,timeout_seconds=0.2", request.param)


def clients(app: FastAPI, root: str | None) -> tuple[openai.OpenAI, anthropic.Anthropic]:
    if root is None:
        return make_openai_client(app), anthropic_client(app)
    return (
        openai.OpenAI(api_key="k", base_url=root + "/v1"),
        anthropic.Anthropic(api_key="k", base_url=root),
    )


def test_http_timeout_create_takes_effect_but_the_client_never_learns_the_id(
    timeout_app: tuple[FastAPI, str | None],
) -> None:
    app, root = timeout_app
    oa, an = clients(app, root)
    with oa, an:
        file_id = upload(oa.with_options(timeout=5))  # waits out the hold
        impatient = oa.with_options(timeout=0.1, max_retries=0)
        started = time.monotonic()
        with pytest.raises(openai.APITimeoutError):
            impatient.batches.create(
                input_file_id=file_id,
                endpoint=CHAT,
                completion_window="24h",
                metadata={"halfrate_batch": "b1"},
            )
        assert time.monotonic() - started < 0.45  # gave up before the answer came
        # The batch exists: a client that lists (patiently) can find it by its metadata.
        found = [b for b in oa.with_options(timeout=5).batches.list() if b.metadata]
        assert [b.metadata for b in found] == [{"halfrate_batch": "b1"}]
        # An SDK that retries a timed-out create creates it again each time.
        with pytest.raises(openai.APITimeoutError):
            oa.with_options(timeout=0.1, max_retries=1).batches.create(
                input_file_id=file_id,
                endpoint=CHAT,
                completion_window="24h",
                metadata={"halfrate_batch": "b2"},
            )
        with pytest.raises(anthropic.APITimeoutError):
            an.with_options(timeout=0.1, max_retries=0).messages.batches.create(
                requests=[{"custom_id": "a", "params": CLAUDE}]
            )
        time.sleep(0.6)  # the held answers go out
        listed = state_of(app).list_batches(after=None, limit=100)["data"]
        tags = sorted(b["metadata"]["halfrate_batch"] for b in listed)
        assert tags == ["b1", "b2", "b2"]
        patient = an.with_options(timeout=5)
        assert len(patient.messages.batches.list().data) == 1


def test_held_downloads_arrive_whole_for_a_patient_client(
    short_hold_app: tuple[FastAPI, str | None],
) -> None:
    app, root = short_hold_app
    oa, an = clients(app, root)
    with oa, an:
        oa, an = oa.with_options(timeout=5), an.with_options(timeout=5)
        batch = oa.batches.create(input_file_id=upload(oa), endpoint=CHAT, completion_window="24h")
        done = oa.batches.retrieve(batch.id)
        assert done.output_file_id is not None
        started = time.monotonic()
        assert len(oa.files.content(done.output_file_id).text.splitlines()) == 3
        assert time.monotonic() - started >= 0.2
        created = an.messages.batches.create(requests=[{"custom_id": "a", "params": CLAUDE}])
        assert [x.custom_id for x in an.messages.batches.results(created.id)] == ["a"]


def test_a_server_stops_at_once_though_an_abandoned_answer_is_held() -> None:
    with SandboxServer(faults="http_timeout=1") as server:  # holds 30 s by default
        with make_openai_client(server) as client, pytest.raises(openai.APITimeoutError):
            client.with_options(timeout=0.1, max_retries=0).batches.list()
        started = time.monotonic()
    assert time.monotonic() - started < 1.5


def test_file_not_found_hides_a_new_upload_for_its_first_uses() -> None:
    app = create_app(faults="file_not_found=1")
    with make_openai_client(app) as client:
        quick = client.with_options(max_retries=0)
        file_id = upload(quick)
        with pytest.raises(openai.NotFoundError) as caught:
            quick.files.retrieve(file_id)
        assert caught.value.body == {
            "message": f"No such File object: {file_id}",
            "type": "invalid_request_error",
            "param": "id",
            "code": None,
        }
        with pytest.raises(openai.NotFoundError) as caught:
            quick.batches.create(input_file_id=file_id, endpoint=CHAT, completion_window="24h")
        assert isinstance(caught.value.body, dict)
        assert caught.value.body["param"] == "input_file_id"
        assert batch_count(app) == 0
        batch = quick.batches.create(input_file_id=file_id, endpoint=CHAT, completion_window="24h")
        assert quick.files.retrieve(file_id).id == file_id
        done = quick.batches.retrieve(batch.id)
        assert done.output_file_id is not None
        assert quick.files.content(done.output_file_id).text  # outputs are not uploads


def test_keys_are_checked_before_faults_and_sandbox_paths_are_never_faulted() -> None:
    app = create_app(faults="http_429=1,http_500=1")
    transport = InProcessTransport(app)
    with httpx2.Client(transport=transport, base_url="http://sandbox.local") as http:
        assert http.get("/v1/batches").status_code == 401
        assert http.get("/v1/messages/batches").status_code == 401
        assert http.get("/v1/batches", headers=AUTH).status_code == 429
        assert http.get("/_sandbox/ledger").status_code == 200
        assert http.get("/").status_code == 200


def test_sync_faults_still_work_next_to_http_faults() -> None:
    app = create_app(faults="http_500=1,sync_429=1,retry_after=0")
    with make_openai_client(app) as client:
        quick = client.with_options(max_retries=0)
        with pytest.raises(openai.RateLimitError):
            quick.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
            )
        with pytest.raises(openai.InternalServerError):
            quick.batches.list()
    assert [e["fault"] for e in state_of(app).ledger.entries()] == ["sync_429"]


def statuses(http: httpx2.Client) -> list[int]:
    paths = ["/v1/batches", "/v1/files", "/v1/batches/batch_a", "/v1/batches/batch_b"] * 10
    return [http.get(path, headers=AUTH).status_code for path in paths]


def test_http_faults_are_the_same_in_process_and_over_loopback() -> None:
    spec = "http_429=0.3,http_500=0.3,seed=9"
    app = create_app(faults=spec)
    with httpx2.Client(transport=InProcessTransport(app), base_url="http://sandbox.local") as h:
        in_process = statuses(h)
    with SandboxServer(faults=spec) as server, httpx2.Client(base_url=server.root_url) as h:
        loopback = statuses(h)
    assert in_process == loopback
    assert {200, 404, 429, 500} == set(in_process)
