"""Anthropic's side of the sandbox app over raw HTTP: keys, versions, error shapes, limits."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from halfrate.sandbox import InProcessTransport, create_app
from halfrate.sandbox.anthropic import batches_routes as batches_api
from halfrate.sandbox.anthropic.checks import check_params
from halfrate.sandbox.anthropic.wire import AnthropicError, rfc3339

V1 = {"anthropic-version": "2023-06-01"}
V2 = {"anthropic-version": "2026-10-21"}
KEY = {"x-api-key": "sk-ant-sandbox"}
MODEL = "claude-haiku-4-5"
BODY: dict[str, Any] = {
    "model": MODEL,
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "Name a lighthouse."}],
}


@pytest.fixture
def http() -> Iterator[httpx2.Client]:
    transport = InProcessTransport(create_app())
    with httpx2.Client(transport=transport, base_url="http://sandbox.local") as client:
        yield client


def anthropic_error(response: httpx2.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"type", "error", "request_id"}
    assert body["type"] == "error"
    assert set(body["error"]) == {"type", "message"}
    assert body["request_id"] == response.headers["request-id"]
    assert body["request_id"].startswith("req_011")
    error: dict[str, Any] = body["error"]
    return error


def test_x_api_key_alone_works(http: httpx2.Client) -> None:
    response = http.post("/v1/messages", json=BODY, headers=KEY | V1)
    assert response.status_code == 200
    message = response.json()
    assert message["type"] == "message"
    assert message["id"].startswith("msg_01")
    assert message["content"][0]["text"].startswith("[halfrate sandbox]")
    assert response.headers["request-id"].startswith("req_011")
    assert response.headers["x-halfrate-sandbox"] == "1"


def test_bearer_works_too(http: httpx2.Client) -> None:
    response = http.post("/v1/messages", json=BODY, headers={"Authorization": "Bearer k"} | V2)
    assert response.status_code == 200


@pytest.mark.parametrize(
    "headers", [{}, {"x-api-key": ""}, {"Authorization": "Bearer "}, {"Authorization": "Basic x"}]
)
def test_no_key_is_a_401(http: httpx2.Client, headers: dict[str, str]) -> None:
    response = http.post("/v1/messages", json=BODY, headers=headers | V1)
    assert response.status_code == 401
    assert anthropic_error(response) == {
        "type": "authentication_error",
        "message": "x-api-key header is required",
    }
    assert http.get("/v1/messages/batches", headers=headers | V1).status_code == 401


def test_version_header(http: httpx2.Client) -> None:
    missing = http.post("/v1/messages", json=BODY, headers=KEY)
    assert missing.status_code == 400
    assert anthropic_error(missing) == {
        "type": "invalid_request_error",
        "message": "anthropic-version: header is required",
    }
    wrong = http.post("/v1/messages", json=BODY, headers=KEY | {"anthropic-version": "2024-01-01"})
    assert wrong.status_code == 400
    assert "2024-01-01" in anthropic_error(wrong)["message"]
    for version in (V1, V2):
        assert http.post("/v1/messages", json=BODY, headers=KEY | version).status_code == 200


def test_openai_paths_keep_openai_rules(http: httpx2.Client) -> None:
    response = http.get("/v1/batches", headers=KEY | V1)  # x-api-key is not enough there
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Missing bearer authentication in header"
    assert "request-id" not in response.headers


def test_unknown_paths_and_ids_are_anthropic_404s(http: httpx2.Client) -> None:
    for response in (
        http.get("/v1/messages/nothing/here", headers=KEY | V1),
        http.get("/v1/messages/batches/msgbatch_nope", headers=KEY | V1),
        http.get("/v1/messages/batches/msgbatch_nope/results", headers=KEY | V1),
        http.post("/v1/messages/batches/msgbatch_nope/cancel", headers=KEY | V1),
        http.delete("/v1/messages/batches/msgbatch_nope", headers=KEY | V1),
        http.get("/v1/messages", headers=KEY | V1),  # wrong method
    ):
        assert response.status_code == 404
        assert anthropic_error(response)["type"] == "not_found_error"


def test_body_errors(http: httpx2.Client) -> None:
    broken = http.post("/v1/messages", content=b"{nope", headers=KEY | V1)
    assert broken.status_code == 400
    assert anthropic_error(broken)["type"] == "invalid_request_error"
    not_claude = http.post("/v1/messages", json=BODY | {"model": "gpt-4o"}, headers=KEY | V1)
    assert not_claude.status_code == 404
    assert anthropic_error(not_claude) == {"type": "not_found_error", "message": "model: gpt-4o"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"model": None}, "model: Field required"),
        ({"model": 5}, "model: Input should be a valid string"),
        ({"max_tokens": None}, "max_tokens: Field required"),
        ({"max_tokens": "10"}, "max_tokens: Input should be a valid integer"),
        ({"max_tokens": 0}, "max_tokens: Input should be greater than or equal to 1"),
        ({"messages": None}, "messages: Field required"),
        ({"messages": []}, "messages: at least one message is required"),
        ({"messages": [{"role": "system", "content": "x"}]}, "messages.0.role: Input should be"),
        ({"messages": [{"role": "user"}]}, "messages.0.content: Field required"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages.0.content: Input should be"),
        ({"messages": [{"role": "user", "content": [{"type": "text"}]}]}, "content.0.text"),
        ({"system": 5}, "system: Input should be"),
        ({"system": [{"type": "image"}]}, "system.0.type: Input should be 'text'"),
        ({"temperature": 3}, "temperature: Input should be a number between 0 and 1"),
        ({"stream": "yes"}, "stream: Input should be a valid boolean"),
        (
            {"system": [{"type": "text", "text": "x", "cache_control": {"type": "forever"}}]},
            "system.0.cache_control.type: Input should be 'ephemeral'",
        ),
        (
            {
                "system": [
                    {
                        "type": "text",
                        "text": "x",
                        "cache_control": {"type": "ephemeral", "ttl": "2h"},
                    }
                ]
            },
            "system.0.cache_control.ttl: Input should be '5m' or '1h'",
        ),
        (
            {"system": [{"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}}] * 5},
            "A maximum of 4 blocks with cache_control may be provided. Found 5.",
        ),
    ],
)
def test_param_checks(change: dict[str, Any], message: str) -> None:
    body = {k: v for k, v in (BODY | change).items() if v is not None}
    with pytest.raises(AnthropicError) as caught:
        check_params(body, "2023-06-01")
    assert caught.value.status == 400
    assert message in caught.value.message


def test_version_2026_removes_sampling_parameters() -> None:
    for name, value in (("temperature", 1.0), ("top_p", 0.9), ("top_k", 5)):
        check_params(BODY | {name: value}, "2023-06-01")
        with pytest.raises(AnthropicError, match=f"^{name}: this parameter is not supported"):
            check_params(BODY | {name: value}, "2026-10-21")


def test_batches_refuse_more() -> None:
    check_params(BODY | {"stream": True}, "2026-10-21")
    with pytest.raises(AnthropicError, match="stream"):
        check_params(BODY | {"stream": True}, "2026-10-21", in_batch=True)
    with pytest.raises(AnthropicError, match="speed"):
        check_params(BODY | {"speed": "fast"}, "2026-10-21", in_batch=True)


def request(custom_id: Any, params: Any = None) -> dict[str, Any]:
    return {"custom_id": custom_id, "params": BODY if params is None else params}


@pytest.mark.parametrize(
    ("requests", "message"),
    [
        ("nope", "requests: Input should be a valid list"),
        ([], "requests: List should have at least 1 item"),
        ([request("ok"), "x"], "requests.1: Input should be a valid dictionary"),
        (
            [request("ok"), request("has space")],
            "requests.1.custom_id: String should match pattern",
        ),
        ([request("x" * 65)], "requests.0.custom_id: String should match pattern"),
        ([request("")], "requests.0.custom_id: String should match pattern"),
        ([request(7)], "requests.0.custom_id: String should match pattern"),
        ([request("a"), request("b"), request("a")], "requests.2.custom_id: duplicate custom_id"),
        ([request("a", "params")], "requests.0.params: Input should be a valid dictionary"),
        ([{"custom_id": "a"}], "requests.0.params: Field required"),
    ],
)
def test_envelope_errors_name_the_index(http: httpx2.Client, requests: Any, message: str) -> None:
    response = http.post("/v1/messages/batches", json={"requests": requests}, headers=KEY | V2)
    assert response.status_code == 400
    error = anthropic_error(response)
    assert error["type"] == "invalid_request_error"
    assert message in error["message"]


def test_too_many_requests(monkeypatch: pytest.MonkeyPatch, http: httpx2.Client) -> None:
    monkeypatch.setattr(batches_api, "MAX_REQUESTS", 3)
    body = {"requests": [request(f"r{i}") for i in range(4)]}
    response = http.post("/v1/messages/batches", json=body, headers=KEY | V2)
    assert response.status_code == 400
    assert "at most 3 items" in anthropic_error(response)["message"]
    assert batches_api.check_envelope({"requests": body["requests"][:3]})


def test_too_large_is_a_413(monkeypatch: pytest.MonkeyPatch, http: httpx2.Client) -> None:
    monkeypatch.setattr(batches_api, "MAX_BATCH_BYTES", 1000)
    body = {"requests": [request(f"r{i}") for i in range(20)]}
    response = http.post("/v1/messages/batches", json=body, headers=KEY | V2)
    assert response.status_code == 413
    assert anthropic_error(response)["type"] == "request_too_large"
    assert batches_api.MAX_BATCH_BYTES == 1000
    monkeypatch.undo()
    assert batches_api.MAX_BATCH_BYTES == 256 * 1024 * 1024


def test_list_limit_and_cursors(http: httpx2.Client) -> None:
    for limit in ("0", "1001", "x"):
        response = http.get("/v1/messages/batches", params={"limit": limit}, headers=KEY | V2)
        assert response.status_code == 400
        assert anthropic_error(response)["message"].startswith("limit: ")
    both = http.get(
        "/v1/messages/batches", params={"after_id": "a", "before_id": "b"}, headers=KEY | V2
    )
    assert both.status_code == 400


def test_results_before_the_end_and_delete_while_processing() -> None:
    clock = [1_800_000_000.0]
    app = create_app(60.0, clock=lambda: clock[0])
    headers = KEY | V2
    with httpx2.Client(transport=InProcessTransport(app), base_url="http://sandbox.local") as http:
        created = http.post(
            "/v1/messages/batches", json={"requests": [request("a")]}, headers=headers
        )
        batch_id = created.json()["id"]
        early = http.get(f"/v1/messages/batches/{batch_id}/results", headers=headers)
        assert early.status_code == 400
        assert "has not ended yet" in anthropic_error(early)["message"]
        busy = http.delete(f"/v1/messages/batches/{batch_id}", headers=headers)
        assert busy.status_code == 400
        clock[0] += 60
        results = http.get(f"/v1/messages/batches/{batch_id}/results", headers=headers)
        assert results.status_code == 200
        assert results.headers["content-type"] == "application/binary"
        assert results.content.count(b"\n") == 1
        # Results are archived 29 days after creation; the batch itself stays.
        clock[0] += 29 * 86_400
        batch = http.get(f"/v1/messages/batches/{batch_id}", headers=headers).json()
        assert batch["archived_at"] == rfc3339(1_800_000_000.0 + 29 * 86_400)
        gone = http.get(f"/v1/messages/batches/{batch_id}/results", headers=headers)
        assert gone.status_code == 404
        deleted = http.delete(f"/v1/messages/batches/{batch_id}", headers=headers)
        assert deleted.json() == {"id": batch_id, "type": "message_batch_deleted"}
        again = http.get(f"/v1/messages/batches/{batch_id}", headers=headers)
        assert again.status_code == 404


def test_every_answer_is_on_the_ledger_even_unparsable_ones() -> None:
    app = create_app()
    with httpx2.Client(transport=InProcessTransport(app), base_url="http://sandbox.local") as http:
        http.post("/v1/messages", content=b"{nope", headers=KEY | V1)
        http.post("/v1/chat/completions", content=b"[", headers={"Authorization": "Bearer k"})
        http.post("/v1/messages", json=BODY, headers=KEY | V1)
        http.post("/v1/messages/count_tokens", json=BODY, headers=KEY | V1)  # free: no entry
    entries = app.state.sandbox.ledger.entries()
    assert [(e["provider"], e["status"], e["charged"], e["model"]) for e in entries] == [
        ("anthropic", 400, False, None),
        ("openai", 400, False, None),
        ("anthropic", 200, True, MODEL),
    ]


def test_index_reports_both_base_urls(http: httpx2.Client) -> None:
    index = http.get("/").json()
    assert index["openai_base_url"] == "http://sandbox.local/v1"
    assert index["anthropic_base_url"] == "http://sandbox.local"


def test_rfc3339() -> None:
    assert rfc3339(1_795_341_600.123456) == "2026-11-22T10:00:00.123456Z"
    assert rfc3339(0) == "1970-01-01T00:00:00.000000Z"
