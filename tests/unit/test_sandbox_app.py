"""HTTP-level details of the sandbox app that the SDK does not expose: shapes, limits, codes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from halfrate.sandbox import InProcessTransport, create_app
from halfrate.sandbox.openai.files_routes import MAX_BATCH_FILE_BYTES, _check_size
from halfrate.sandbox.openai.wire import ApiError

AUTH = {"Authorization": "Bearer test"}


@pytest.fixture
def http() -> Iterator[httpx2.Client]:
    transport = InProcessTransport(create_app())
    with httpx2.Client(transport=transport, base_url="http://sandbox.local", headers=AUTH) as c:
        yield c


def error_of(response: httpx2.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert response.headers["x-halfrate-sandbox"] == "1"
    error: dict[str, Any] = body["error"]
    return error


def test_batch_files_over_200_mb_are_refused() -> None:
    _check_size(MAX_BATCH_FILE_BYTES, "batch")
    with pytest.raises(ApiError) as caught:
        _check_size(MAX_BATCH_FILE_BYTES + 1, "batch")
    assert caught.value.status == 400
    assert "200 MB" in caught.value.message
    _check_size(MAX_BATCH_FILE_BYTES + 1, "user_data")  # other purposes may be up to 512 MB


def test_upload_form_errors(http: httpx2.Client) -> None:
    no_file = http.post("/v1/files", data={"purpose": "batch"}, files={"x": ("a", b"")})
    assert no_file.status_code == 400
    assert error_of(no_file)["param"] == "file"
    bad_purpose = http.post("/v1/files", data={"purpose": "fun"}, files={"file": ("a", b"x")})
    assert error_of(bad_purpose)["param"] == "purpose"
    no_purpose = http.post("/v1/files", files={"file": ("a.jsonl", b"x")})
    assert error_of(no_purpose)["code"] == "missing_required_parameter"


def test_content_is_raw_bytes(http: httpx2.Client) -> None:
    data = b'{"a": 1}\n' * 3
    created = http.post("/v1/files", data={"purpose": "batch"}, files={"file": ("a.jsonl", data)})
    file_id = created.json()["id"]
    content = http.get(f"/v1/files/{file_id}/content", headers={"Accept": "application/binary"})
    assert content.status_code == 200
    assert content.content == data
    assert content.headers["content-length"] == str(len(data))
    missing = http.get("/v1/files/file-nope/content")
    assert missing.status_code == 404
    assert error_of(missing)["message"] == "No such File object: file-nope"


def test_file_list_pagination(http: httpx2.Client) -> None:
    def upload() -> str:
        response = http.post("/v1/files", data={"purpose": "user_data"}, files={"file": ("f", b"")})
        return str(response.json()["id"])

    ids = [upload() for _ in range(5)]
    page = http.get("/v1/files", params={"limit": 2, "order": "asc"}).json()
    assert [f["id"] for f in page["data"]] == ids[:2]
    assert (page["first_id"], page["last_id"], page["has_more"]) == (ids[0], ids[1], True)
    rest = http.get("/v1/files", params={"order": "asc", "after": ids[1]}).json()
    assert [f["id"] for f in rest["data"]] == ids[2:]
    assert rest["has_more"] is False
    assert http.get("/v1/files", params={"limit": 0}).status_code == 400
    assert http.get("/v1/files", params={"order": "up"}).status_code == 400


def test_bad_json_bodies(http: httpx2.Client) -> None:
    broken = http.post("/v1/batches", content=b"{nope")
    assert broken.status_code == 400
    assert "could not parse the JSON body" in error_of(broken)["message"]
    listed = http.post("/v1/chat/completions", content=b"[1, 2]")
    assert listed.status_code == 400
    missing = http.post("/v1/batches", json={"endpoint": "/v1/chat/completions"})
    assert error_of(missing)["param"] == "input_file_id"


def test_wrong_method_is_an_invalid_url(http: httpx2.Client) -> None:
    response = http.delete("/v1/batches")
    assert response.status_code == 404
    assert error_of(response)["message"] == "Invalid URL (DELETE /v1/batches)"


def test_cancel_unknown_batch(http: httpx2.Client) -> None:
    response = http.post("/v1/batches/batch_nope/cancel")
    assert response.status_code == 404
    assert "batch_nope" in error_of(response)["message"]


def test_chat_streams_server_sent_events(http: httpx2.Client) -> None:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "stream": True}
    response = http.post("/v1/chat/completions", json=body)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [line for line in response.text.split("\n\n") if line]
    assert all(event.startswith("data: ") for event in events)
    assert events[-1] == "data: [DONE]"
    assert '"object":"chat.completion.chunk"' in events[0]


def test_embeddings_do_not_stream(http: httpx2.Client) -> None:
    body = {"model": "text-embedding-3-small", "input": "x", "stream": True}
    response = http.post("/v1/embeddings", json=body)
    assert response.status_code == 400
    message = error_of(response)["message"]
    assert message == "streaming is simulated for /v1/chat/completions and /v1/responses only"
