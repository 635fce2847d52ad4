"""Listing models and refused keys, through the real SDKs against the sandbox over loopback;
and the key check the Keys page runs, against the sandbox and against a closed port."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import anthropic
import httpx2
import openai
import pytest

from halfrate.providers.key_check import KeyCheck, check_key, guarded
from halfrate.sandbox import SandboxServer, anthropic_client, openai_client

BAD_KEY = "invalid-key-1234-Zq8SecretTail"
CLAUDE = "claude-haiku-4-5"
V2023 = {"anthropic-version": "2023-06-01"}
MESSAGES: list[anthropic.types.MessageParam] = [{"role": "user", "content": "Hello?"}]


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer() as running:
        yield running


@pytest.fixture
def oai(server: SandboxServer) -> Iterator[openai.OpenAI]:
    with openai_client(server) as client:
        yield client


@pytest.fixture
def claude(server: SandboxServer) -> Iterator[anthropic.Anthropic]:
    with anthropic_client(server) as client:
        yield client


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_openai_lists_and_retrieves_models(oai: openai.OpenAI) -> None:
    models = list(oai.models.list())
    ids = [model.id for model in models]
    assert "gpt-4o-mini" in ids
    assert "text-embedding-3-small" in ids
    assert len(ids) == len(set(ids))
    for model in models:
        assert model.object == "model"
        assert model.owned_by in ("openai", "system")
        assert isinstance(model.created, int)
        assert model.created > 1_600_000_000
    one = oai.models.retrieve("gpt-4o-mini")
    assert one == models[ids.index("gpt-4o-mini")]


def test_openai_unknown_model_is_404(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        oai.models.retrieve("gpt-nope")
    assert caught.value.body == {
        "message": "The model 'gpt-nope' does not exist",
        "type": "invalid_request_error",
        "param": "model",
        "code": "model_not_found",
    }


def test_anthropic_lists_pages_and_retrieves_models(claude: anthropic.Anthropic) -> None:
    page = claude.models.list()
    ids = [model.id for model in page.data]
    assert page.has_more is False
    assert (page.first_id, page.last_id) == (ids[0], ids[-1])
    dates = [model.created_at for model in page.data]
    assert dates == sorted(dates, reverse=True)  # newest first
    for model in page.data:
        assert model.type == "model"
        assert model.id.startswith("claude-")
        assert model.display_name.startswith("Claude ")
    # limit=1 pages one model at a time; the SDK follows last_id until has_more is false.
    first = claude.models.list(limit=1)
    assert [m.id for m in first.data] == ids[:1]
    assert first.has_more is True
    assert [m.id for m in first] == ids
    after = claude.models.list(after_id=ids[0], limit=2)
    assert [m.id for m in after.data] == ids[1:3]
    before = claude.models.list(before_id=ids[2], limit=1)
    assert [m.id for m in before.data] == ids[1:2]
    assert before.has_more is True
    # An alias resolves to the snapshot it stands for, as at Anthropic.
    resolved = claude.models.retrieve(CLAUDE)
    assert resolved.id in ids
    assert resolved.id.startswith(CLAUDE)
    assert claude.models.retrieve(resolved.id) == resolved


def test_anthropic_refuses_bad_list_parameters(claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError):
        claude.models.list(limit=1001)
    with pytest.raises(anthropic.BadRequestError):
        claude.models.list(after_id="a", before_id="b")


def test_anthropic_unknown_model_is_404(claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        claude.models.retrieve("claude-nope")
    assert caught.value.status_code == 404
    body = caught.value.body
    assert isinstance(body, dict)
    assert body["type"] == "error"
    assert body["error"] == {"type": "not_found_error", "message": "model: claude-nope"}
    assert body["request_id"] == caught.value.request_id


def test_one_path_answered_by_the_headers(server: SandboxServer) -> None:
    with httpx2.Client(base_url=server.root_url) as http:
        bearer = {"authorization": "Bearer sandbox"}
        assert http.get("/v1/models", headers=bearer).json()["object"] == "list"
        # The SDK's headers (a bearer key and the version), and the classic x-api-key.
        for headers in (bearer | V2023, {"x-api-key": "sandbox", **V2023}):
            answer = http.get("/v1/models", headers=headers)
            assert answer.status_code == 200
            assert "object" not in answer.json()
            assert answer.headers["request-id"].startswith("req_011")
        # Anthropic's key header without its version: Anthropic's 400, not OpenAI's 401.
        refused = http.get("/v1/models", headers={"x-api-key": "sandbox"})
        assert refused.status_code == 400
        assert refused.json()["type"] == "error"
        unknown = http.get("/v1/models/a/b", headers={"x-api-key": "k", **V2023})
        assert unknown.json()["error"]["type"] == "not_found_error"


def test_openai_refuses_invalid_keys(server: SandboxServer) -> None:
    with openai_client(server, api_key=BAD_KEY) as client:
        with pytest.raises(openai.AuthenticationError) as listing:
            client.models.list()
        with pytest.raises(openai.AuthenticationError) as chatting:
            client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "Hello?"}]
            )
    for caught in (listing, chatting):
        assert caught.value.status_code == 401
        assert caught.value.body == {
            "message": "Incorrect API key provided.",
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_api_key",
        }
        assert "1234" not in str(caught.value)


def test_anthropic_refuses_invalid_keys(server: SandboxServer) -> None:
    with anthropic_client(server, api_key=BAD_KEY) as client:
        with pytest.raises(anthropic.AuthenticationError) as listing:
            client.models.list()
        with pytest.raises(anthropic.AuthenticationError) as messaging:
            client.messages.create(model=CLAUDE, max_tokens=16, messages=MESSAGES)
    for caught in (listing, messaging):
        assert caught.value.status_code == 401
        body = caught.value.body
        assert isinstance(body, dict)
        assert body["error"] == {"type": "authentication_error", "message": "invalid x-api-key"}
        assert body["request_id"] == caught.value.request_id
        assert "1234" not in str(caught.value)
    # The classic x-api-key header is refused the same way.
    with httpx2.Client(base_url=server.root_url) as http:
        answer = http.post(
            "/v1/messages",
            headers={"x-api-key": BAD_KEY, **V2023},
            json={"model": CLAUDE, "max_tokens": 16, "messages": MESSAGES},
        )
    assert answer.status_code == 401
    assert answer.json()["error"]["type"] == "authentication_error"


def test_only_the_prefix_is_refused(server: SandboxServer) -> None:
    # "invalid" elsewhere in a key makes an ordinary key.
    with openai_client(server, api_key="sk-not-invalid") as client:
        assert client.models.retrieve("gpt-4o-mini").id == "gpt-4o-mini"
    with anthropic_client(server, api_key="sk-ant-invalid") as claude:
        assert claude.messages.create(model=CLAUDE, max_tokens=16, messages=MESSAGES).content


@pytest.mark.parametrize(("provider", "name"), [("openai", "OpenAI"), ("anthropic", "Anthropic")])
def test_check_key_against_the_sandbox(
    server: SandboxServer, monkeypatch: pytest.MonkeyPatch, provider: str, name: str
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.root_url)
    assert check_key(provider, "sandbox-key") == KeyCheck(True, f"{name} accepted the key.")
    refused = check_key(provider, BAD_KEY)
    assert refused == KeyCheck(False, f"{name} refused the key (401 authentication error).")
    assert BAD_KEY[-8:] not in refused.message
    assert "invalid" not in refused.message
    malformed = check_key(provider, "sandbox key\n")
    assert not malformed.ok
    assert "sandbox" not in malformed.message


@pytest.mark.parametrize(("provider", "name"), [("openai", "OpenAI"), ("anthropic", "Anthropic")])
def test_check_key_cannot_reach_a_closed_port(
    monkeypatch: pytest.MonkeyPatch, provider: str, name: str
) -> None:
    port = closed_port()
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{port}/v1")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", f"http://127.0.0.1:{port}")
    checked = check_key(provider, "sk-unreachable-key", timeout=2.0)
    assert not checked.ok
    assert checked.message.startswith(f"Could not reach {name} at 127.0.0.1:{port}: ")
    assert "refused" in checked.message
    assert "unreachable-key" not in checked.message


def test_guard_drops_a_message_holding_the_key() -> None:
    key = "sk-proj-abcdefghijklmnop12345678"
    for leaky in (f"bad key {key}", "Incorrect API key provided: sk-proj-***12345678."):
        result = guarded(KeyCheck(False, leaky), key, "OpenAI")
        assert not result.ok
        assert "12345678" not in result.message
    clean = KeyCheck(False, "OpenAI refused the key (401 authentication error).")
    assert guarded(clean, key, "OpenAI") is clean
