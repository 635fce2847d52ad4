"""The real ``openai`` SDK against the sandbox app, in-process (no sockets, no mocks)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any, Final

import httpx2
import openai
import orjson
import pytest
from openai.types import Batch

from halfrate.sandbox import InProcessTransport, create_app, openai_client

CHAT: Final = "/v1/chat/completions"
MODEL = "gpt-4o-mini"


class FakeClock:
    """A clock the test moves by hand, so lifecycle phases need no sleeping."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def chat_line(i: int, *, model: str = "gpt-4o-mini", **extra: Any) -> dict[str, Any]:
    body = {"model": model, "messages": [{"role": "user", "content": f"Question {i}: why?"}]}
    return {"custom_id": f"req-{i}", "method": "POST", "url": CHAT, "body": body | extra}


def jsonl(lines: list[Any]) -> bytes:
    return b"".join(orjson.dumps(line) + b"\n" for line in lines)


def upload(client: openai.OpenAI, data: bytes, name: str = "input.jsonl") -> str:
    return client.files.create(file=(name, io.BytesIO(data)), purpose="batch").id


def start_batch(client: openai.OpenAI, data: bytes, **kwargs: Any) -> Batch:
    file_id = upload(client, data)
    return client.batches.create(
        input_file_id=file_id, endpoint=CHAT, completion_window="24h", **kwargs
    )


def download_lines(client: openai.OpenAI, file_id: str) -> list[dict[str, Any]]:
    with client.files.with_streaming_response.content(file_id) as response:
        return [orjson.loads(line) for line in response.iter_lines() if line]


@pytest.fixture
def client() -> Iterator[openai.OpenAI]:
    with openai_client(create_app()) as sdk:
        yield sdk


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def slow_client(clock: FakeClock) -> Iterator[openai.OpenAI]:
    """A sandbox whose batches take 30 s of (fake) time: 10 s per phase."""
    with openai_client(create_app(30.0, clock=clock)) as sdk:
        yield sdk


def test_batch_round_trip_with_streaming_download(client: openai.OpenAI) -> None:
    n = 40
    batch = start_batch(client, jsonl([chat_line(i) for i in range(n)]))
    assert batch.status == "validating"
    assert batch.request_counts is not None
    assert batch.request_counts.total == 0

    done = client.batches.retrieve(batch.id)  # latency 0: the first read completes it
    assert done.status == "completed"
    assert done.model == "gpt-4o-mini"
    assert done.request_counts is not None
    assert (done.request_counts.total, done.request_counts.completed) == (n, n)
    assert done.request_counts.failed == 0
    assert done.error_file_id is None
    assert done.output_file_id is not None
    assert done.created_at <= done.in_progress_at <= done.completed_at  # type: ignore[operator]

    lines = download_lines(client, done.output_file_id)
    ids = [line["custom_id"] for line in lines]
    assert sorted(ids) == sorted(f"req-{i}" for i in range(n))  # each exactly once
    assert ids != [f"req-{i}" for i in range(n)]  # and not in input order
    first = lines[0]
    assert first["id"].startswith("batch_req_")
    assert first["error"] is None
    assert first["response"]["status_code"] == 200
    assert first["response"]["request_id"].startswith("req_")
    body = first["response"]["body"]
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["content"].startswith("[halfrate sandbox]")

    usage = done.usage
    assert usage is not None
    prompt = sum(line["response"]["body"]["usage"]["prompt_tokens"] for line in lines)
    completion = sum(line["response"]["body"]["usage"]["completion_tokens"] for line in lines)
    assert (usage.input_tokens, usage.output_tokens) == (prompt, completion)
    assert usage.total_tokens == prompt + completion
    assert 10 * n < prompt < 40 * n  # short questions: a dozen or two tokens each

    output = client.files.retrieve(done.output_file_id)
    assert output.purpose == "batch_output"
    assert output.filename == f"batch_{batch.id}_output.jsonl"
    assert output.bytes == len(client.files.content(done.output_file_id).content)

    with client.files.with_streaming_response.content(done.output_file_id) as response:
        raw = b"".join(response.iter_bytes())
    assert raw.count(b"\n") == n


def test_failed_lines_go_to_the_error_file(client: openai.OpenAI) -> None:
    lines = [
        chat_line(0),
        {"custom_id": "no-messages", "method": "POST", "url": CHAT, "body": {"model": MODEL}},
        chat_line(2),
    ]
    done = client.batches.retrieve(start_batch(client, jsonl(lines)).id)
    assert done.status == "completed"
    assert done.request_counts is not None
    assert (done.request_counts.completed, done.request_counts.failed) == (2, 1)
    assert done.output_file_id is not None
    assert done.error_file_id is not None
    (error,) = download_lines(client, done.error_file_id)
    assert error["custom_id"] == "no-messages"
    assert error["error"] is None
    assert error["response"]["status_code"] == 400
    assert error["response"]["body"]["error"]["param"] == "messages"
    assert error["response"]["body"]["error"]["code"] == "missing_required_parameter"


def test_all_lines_failing_leaves_no_output_file(client: openai.OpenAI) -> None:
    lines = [{"custom_id": f"x{i}", "method": "POST", "url": CHAT, "body": {}} for i in range(3)]
    done = client.batches.retrieve(start_batch(client, jsonl(lines)).id)
    assert done.status == "completed"  # "completed" is not success: check the counts
    assert done.output_file_id is None
    assert done.error_file_id is not None
    assert done.request_counts is not None
    assert done.request_counts.failed == 3


def test_lifecycle_moves_with_the_clock(slow_client: openai.OpenAI, clock: FakeClock) -> None:
    batch = start_batch(slow_client, jsonl([chat_line(i) for i in range(100)]))
    assert slow_client.batches.retrieve(batch.id).status == "validating"
    clock.now += 15  # half-way through in_progress
    running = slow_client.batches.retrieve(batch.id)
    assert running.status == "in_progress"
    assert running.request_counts is not None
    assert running.request_counts.total == 100
    assert running.request_counts.completed == 50
    assert running.in_progress_at == int(batch.created_at + 10)
    clock.now += 10
    assert slow_client.batches.retrieve(batch.id).status == "finalizing"
    clock.now += 5
    done = slow_client.batches.retrieve(batch.id)
    assert done.status == "completed"
    assert done.completed_at == batch.created_at + 30
    assert done.finalizing_at == batch.created_at + 20


def test_cancel_mid_flight_keeps_partial_output(
    slow_client: openai.OpenAI, clock: FakeClock
) -> None:
    n = 200
    batch = start_batch(slow_client, jsonl([chat_line(i) for i in range(n)]))
    clock.now += 10 + 2.5  # a quarter of the way through in_progress
    cancelling = slow_client.batches.cancel(batch.id)
    assert cancelling.status == "cancelling"
    assert cancelling.cancelling_at == int(clock.now)
    assert slow_client.batches.cancel(batch.id).status == "cancelling"  # twice is harmless
    clock.now += 9
    assert slow_client.batches.retrieve(batch.id).status == "cancelling"
    clock.now += 1
    done = slow_client.batches.retrieve(batch.id)
    assert done.status == "cancelled"
    assert done.request_counts is not None
    assert done.request_counts.total == n
    assert done.request_counts.completed == n // 4
    assert done.request_counts.failed == n - n // 4
    assert done.output_file_id is not None
    assert done.error_file_id is not None
    finished = download_lines(slow_client, done.output_file_id)
    stopped = download_lines(slow_client, done.error_file_id)
    assert len(finished) == n // 4
    assert all(line["response"]["status_code"] == 200 for line in finished)
    assert all(line["response"] is None for line in stopped)
    assert {line["error"]["code"] for line in stopped} == {"batch_cancelled"}
    ids = {line["custom_id"] for line in finished + stopped}
    assert ids == {f"req-{i}" for i in range(n)}

    with pytest.raises(openai.BadRequestError, match="already ended"):
        slow_client.batches.cancel(batch.id)


def test_cancel_while_validating_runs_nothing(slow_client: openai.OpenAI, clock: FakeClock) -> None:
    batch = start_batch(slow_client, jsonl([chat_line(i) for i in range(5)]))
    slow_client.batches.cancel(batch.id)
    clock.now += 10
    done = slow_client.batches.retrieve(batch.id)
    assert done.status == "cancelled"
    assert done.in_progress_at is None
    assert done.output_file_id is None
    assert done.error_file_id is not None
    assert len(download_lines(slow_client, done.error_file_id)) == 5


def test_cancel_on_a_finished_batch_is_a_400(client: openai.OpenAI) -> None:
    batch = start_batch(client, jsonl([chat_line(0)]))
    with pytest.raises(openai.BadRequestError) as caught:
        client.batches.cancel(batch.id)
    assert caught.value.status_code == 400
    assert "completed" in caught.value.message


@pytest.mark.parametrize(
    ("content", "code", "line"),
    [
        (b"", "empty_file", None),
        (jsonl([chat_line(0)]) + b"{not json\n", "invalid_json_line", 2),
        (jsonl([chat_line(0), chat_line(0)]), "duplicate_custom_id", 2),
        (jsonl([chat_line(0), {**chat_line(1), "url": "/v1/embeddings"}]), "url_mismatch", 2),
        (jsonl([chat_line(0), chat_line(1, model="gpt-4o")]), "model_mismatch", 2),
        (jsonl([chat_line(0, stream=True)]), "invalid_request", 1),
        (jsonl([{**chat_line(0), "method": "GET"}]), "invalid_request", 1),
        (jsonl([{"method": "POST", "url": CHAT, "body": {}}]), "missing_required_parameter", 1),
    ],
)
def test_whole_file_validation_fails_the_batch(
    client: openai.OpenAI, content: bytes, code: str, line: int | None
) -> None:
    batch = start_batch(client, content)
    failed = client.batches.retrieve(batch.id)
    assert failed.status == "failed"
    assert failed.failed_at is not None
    assert failed.errors is not None
    assert failed.errors.data
    error = failed.errors.data[0]
    assert (error.code, error.line) == (code, line)
    assert error.message
    assert failed.request_counts is not None
    assert failed.request_counts.total == 0
    assert failed.output_file_id is None
    assert failed.error_file_id is None


def test_validation_reports_every_bad_line(client: openai.OpenAI) -> None:
    content = jsonl([chat_line(0), chat_line(1)]) + b"oops\n" + jsonl([chat_line(0)]) + b"[]\n"
    failed = client.batches.retrieve(start_batch(client, content).id)
    assert failed.errors is not None
    assert failed.errors.data is not None
    found = [(e.code, e.line) for e in failed.errors.data]
    assert found == [("invalid_json_line", 3), ("duplicate_custom_id", 4), ("invalid_request", 5)]


def test_metadata_round_trip_and_limits(client: openai.OpenAI) -> None:
    metadata = {f"key{i}": "v" * 512 for i in range(16)}
    batch = start_batch(client, jsonl([chat_line(0)]), metadata=metadata)
    assert client.batches.retrieve(batch.id).metadata == metadata
    file_id = upload(client, jsonl([chat_line(0)]))
    too_many = {f"k{i}": "v" for i in range(17)}
    for bad in (too_many, {"k" * 65: "v"}, {"k": "v" * 513}):
        with pytest.raises(openai.BadRequestError) as caught:
            client.batches.create(
                input_file_id=file_id, endpoint=CHAT, completion_window="24h", metadata=bad
            )
        assert caught.value.param == "metadata"


def test_create_rejects_bad_arguments(client: openai.OpenAI) -> None:
    file_id = upload(client, jsonl([chat_line(0)]))
    with pytest.raises(openai.BadRequestError) as caught:
        client.batches.create(
            input_file_id=file_id,
            endpoint="/v1/nope",  # type: ignore[arg-type]
            completion_window="24h",
        )
    assert caught.value.param == "endpoint"
    with pytest.raises(openai.BadRequestError) as caught:
        client.batches.create(
            input_file_id=file_id,
            endpoint=CHAT,
            completion_window="48h",  # type: ignore[arg-type]
        )
    assert caught.value.param == "completion_window"
    with pytest.raises(openai.NotFoundError):
        client.batches.create(input_file_id="file-nope", endpoint=CHAT, completion_window="24h")
    with pytest.raises(openai.NotFoundError):
        client.batches.retrieve("batch_nope")
    endpoints: list[Any] = ["/v1/responses", "/v1/embeddings", "/v1/completions", "/v1/videos"]
    for endpoint in endpoints:
        created = client.batches.create(
            input_file_id=file_id, endpoint=endpoint, completion_window="24h"
        )
        assert created.endpoint == endpoint


def test_unsimulated_endpoint_lines_fail_with_a_400(client: openai.OpenAI) -> None:
    line = {"custom_id": "c", "method": "POST", "url": "/v1/moderations", "body": {"input": "x"}}
    file_id = upload(client, jsonl([line]))
    batch = client.batches.create(
        input_file_id=file_id, endpoint="/v1/moderations", completion_window="24h"
    )
    done = client.batches.retrieve(batch.id)
    assert done.error_file_id is not None
    (error,) = download_lines(client, done.error_file_id)
    message = error["response"]["body"]["error"]["message"]
    assert message == "the halfrate sandbox does not simulate /v1/moderations"


def test_list_pagination_across_pages(client: openai.OpenAI) -> None:
    file_id = upload(client, jsonl([chat_line(0)]))
    created = [
        client.batches.create(input_file_id=file_id, endpoint=CHAT, completion_window="24h").id
        for _ in range(130)
    ]
    first = client.batches.list()
    assert len(first.data) == 20  # the default page size
    assert first.has_more
    listed = [batch.id for batch in client.batches.list(limit=100)]  # the SDK follows `after`
    assert listed == created[::-1]  # newest first, each once
    last_page = client.batches.list(limit=100, after=created[30])
    assert [b.id for b in last_page.data] == created[:30][::-1]
    assert not last_page.has_more
    with pytest.raises(openai.BadRequestError):
        client.batches.list(limit=101)


def test_files_api(client: openai.OpenAI) -> None:
    data = jsonl([chat_line(0)])
    created = client.files.create(
        file=("in.jsonl", io.BytesIO(data)),
        purpose="batch",
        expires_after={"anchor": "created_at", "seconds": 3600},
    )
    assert created.id.startswith("file-")
    assert (created.bytes, created.filename, created.purpose) == (len(data), "in.jsonl", "batch")
    assert created.expires_at == created.created_at + 3600
    assert client.files.retrieve(created.id) == created
    assert client.files.content(created.id).content == data
    other = client.files.create(file=("notes.txt", io.BytesIO(b"hi")), purpose="user_data")
    assert other.expires_at is None
    assert [f.id for f in client.files.list()] == [other.id, created.id]
    assert [f.id for f in client.files.list(order="asc")] == [created.id, other.id]
    assert [f.id for f in client.files.list(purpose="batch")] == [created.id]
    deleted = client.files.delete(created.id)
    assert deleted.deleted
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        client.files.content(created.id)


def test_batch_upload_must_be_jsonl(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.files.create(file=("input.csv", io.BytesIO(b"a,b\n")), purpose="batch")
    assert caught.value.body == {
        "message": "Invalid file format for Batch API. Must be .jsonl",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    with pytest.raises(openai.BadRequestError) as caught:
        client.files.create(
            file=("in.jsonl", io.BytesIO(b"{}")),
            purpose="batch",
            expires_after={"anchor": "created_at", "seconds": 60},
        )
    assert caught.value.param == "expires_after[seconds]"


def test_sync_chat_embeddings_and_responses(client: openai.OpenAI) -> None:
    messages: Any = [{"role": "user", "content": "Name three uses of copper wire."}]
    chat = client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    assert chat.id.startswith("chatcmpl-")
    assert chat.system_fingerprint == "fp_halfrate_sandbox"
    content = chat.choices[0].message.content
    assert content is not None
    assert content.startswith("[halfrate sandbox]")
    assert "copper" in content
    assert chat.choices[0].finish_reason == "stop"
    assert chat.usage is not None
    assert chat.usage.total_tokens == chat.usage.prompt_tokens + chat.usage.completion_tokens
    again = client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    assert again.choices[0].message.content == content
    assert again.id == chat.id

    short = client.chat.completions.create(model="gpt-4o-mini", messages=messages, max_tokens=5)
    assert short.choices[0].finish_reason == "length"
    assert short.usage is not None
    assert short.usage.completion_tokens == 5

    embedded = client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    assert [len(item.embedding) for item in embedded.data] == [1536, 1536]
    assert embedded.usage.prompt_tokens == 2
    large = client.embeddings.create(model="text-embedding-3-large", input="a", dimensions=256)
    assert len(large.data[0].embedding) == 256
    floats = client.embeddings.create(
        model="text-embedding-3-small", input=["a"], encoding_format="float"
    )
    assert floats.data[0].embedding == pytest.approx(embedded.data[0].embedding, abs=1e-6)

    answer = client.responses.create(model="gpt-4o-mini", input="Describe a lighthouse.")
    assert answer.output_text.startswith("[halfrate sandbox]")
    assert answer.usage is not None
    assert answer.usage.total_tokens == answer.usage.input_tokens + answer.usage.output_tokens


def test_sync_errors_use_openai_shape(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="gpt-4o-mini", messages=[])
    assert caught.value.code == "empty_array"
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(model="text-embedding-3-small", input="a", dimensions=5000)
    assert caught.value.param == "dimensions"


def test_auth_headers_and_unknown_routes() -> None:
    app = create_app()
    with httpx2.Client(transport=InProcessTransport(app), base_url="http://sandbox.local") as http:
        for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Basic abc"}):
            response = http.get("/v1/batches", headers=headers)
            assert response.status_code == 401
            assert response.json() == {
                "error": {
                    "message": "Missing bearer authentication in header",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": None,
                }
            }
            assert response.headers["x-halfrate-sandbox"] == "1"
        ok = http.get("/v1/batches", headers={"Authorization": "Bearer anything"})
        assert ok.status_code == 200
        assert ok.headers["x-request-id"].startswith("req_")
        missing = http.get("/v1/nothing", headers={"Authorization": "Bearer k"})
        assert missing.status_code == 404
        assert missing.json()["error"]["message"] == "Invalid URL (GET /v1/nothing)"
        assert http.get("/").status_code == 200  # outside /v1: no key needed

    with openai_client(app) as sdk, pytest.raises(openai.AuthenticationError):
        sdk.batches.list(extra_headers={"Authorization": openai.omit})
