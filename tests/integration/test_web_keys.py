"""Provider keys on the Keys page: tested with the provider before they are saved (a key the
provider refuses is not saved), stored sealed with HALFRATE_SECRET_KEY (refused without it),
shown only as their last four characters, used by the workers in place of the environment's,
and never in the store in plain text, a page, the audit log, an error or a log line."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

import halfrate
from halfrate.api import Halfrate, RunMode
from halfrate.errors import ConfigError, InputError
from halfrate.sandbox.server import SandboxServer
from halfrate.web import create_app
from tests.helpers import fast_halfrate
from tests.integration.test_crash_and_api import spec
from tests.integration.test_web import PASSWORD, sign_in
from tests.integration.test_web_budgets import signed

SECRET = "k" * 40
OPENAI_KEY = "sk-proj-Zq8vX2mN4bL7cR1tY6uW3eA9sD5fG0hJ-kP2o"
ANTHROPIC_KEY = "sk-ant-api03-Pq7Wm3Xn5Bv1Lc9Kz2Jd8Hf4Gs6Ta0Ry-Ue5i"
REFUSED_KEY = "invalid-Yh3Jk8Lm2Nb6Vc9Xz4"


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxServer]:
    """A sandbox for both providers; no key in the environment, only where to find them."""
    with SandboxServer(latency=0.0) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url.removesuffix("/v1"))
        yield server


@pytest.fixture
def hr(
    isolated_env: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Halfrate]:
    monkeypatch.setenv("HALFRATE_SECRET_KEY", SECRET)
    with fast_halfrate(f"sqlite:///{isolated_env}/keys.db") as connection:
        connection.add_account("sam@example.com", PASSWORD, "support")
        connection.add_account("ada@example.com", PASSWORD, "ops", admin=True)
        yield connection


def every_stored_text(hr: Halfrate) -> str:
    """Every value of every table, as text."""
    found: list[str] = []
    with hr.store.read() as conn:
        for table in _tables(conn):
            for row in conn.execute(sa.select(table)):
                found.extend(str(value) for value in row)
    return "\n".join(found)


def _tables(conn: sa.Connection) -> list[sa.Table]:
    meta = sa.MetaData()
    meta.reflect(bind=conn)
    return list(meta.tables.values())


def store_bytes(isolated_env: Path) -> bytes:
    return b"".join(path.read_bytes() for path in isolated_env.glob("keys.db*"))


def fragments(key: str) -> list[str]:
    """The key, and every 8-character piece of it but its last four characters."""
    body = key[:-4]
    return [key] + [body[i : i + 8] for i in range(len(body) - 7)]


def test_saved_keys_are_sealed_shown_by_their_last_four_and_never_in_the_store(
    hr: Halfrate, isolated_env: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    web, token = signed(hr, "ada@example.com")
    form = {"csrf_token": token, "openai_key": f" {OPENAI_KEY}\n", "anthropic_key": ANTHROPIC_KEY}
    saved = web.post("/keys", data=form)
    assert saved.status_code == 200, saved.text
    assert "OpenAI accepted the key." in saved.text
    assert "Anthropic accepted the key." in saved.text
    page = web.get("/keys").text
    assert [s.last4 for s in hr.provider_keys()] == [ANTHROPIC_KEY[-4:], OPENAI_KEY[-4:]]
    assert f"<code data-last4>{OPENAI_KEY[-4:]}</code>" in page
    assert page.count('data-status="working"') == 2
    hr.store.close()  # everything written out of the WAL into the file
    raw = store_bytes(isolated_env)
    text = every_stored_text(hr)
    audit = web.get("/audit.csv").text
    logged = caplog.text
    for key in (OPENAI_KEY, ANTHROPIC_KEY):
        for piece in fragments(key):
            assert piece.encode() not in raw, piece
            for shown in (text, saved.text, page, audit, logged):
                assert piece not in shown, piece
    assert hr.stored_provider_keys() == {"openai": OPENAI_KEY, "anthropic": ANTHROPIC_KEY}
    actions = [(e.action, e.target, e.detail) for e in hr.audit_log()]
    assert ("key.set", "openai", f"saved the key ending in {OPENAI_KEY[-4:]}") in actions


def test_a_refused_key_is_not_saved_and_the_message_never_shows_it(hr: Halfrate) -> None:
    web, token = signed(hr, "ada@example.com")
    refused = web.post("/keys", data={"csrf_token": token, "openai_key": REFUSED_KEY})
    assert refused.status_code == 400
    assert "OpenAI refused the key" in refused.text
    assert "The key was not saved." in refused.text
    for piece in fragments(REFUSED_KEY):
        assert piece not in refused.text
    assert hr.provider_keys() == []
    assert hr.audit_log() == []
    # One good and one refused: the good one is saved, the refused one is not.
    both = {"csrf_token": token, "openai_key": OPENAI_KEY, "anthropic_key": REFUSED_KEY}
    mixed = web.post("/keys", data=both)
    assert mixed.status_code == 400
    assert [s.provider for s in hr.provider_keys()] == ["openai"]


def test_the_test_button_marks_a_key_that_stops_working_as_failing(
    hr: Halfrate, monkeypatch: pytest.MonkeyPatch
) -> None:
    hr.save_provider_key("openai", OPENAI_KEY, by="ada@example.com")
    web, token = signed(hr, "ada@example.com")
    tested = web.post("/keys/test", data={"csrf_token": token, "provider": "openai"})
    assert tested.status_code == 200
    assert "OpenAI accepted the key." in tested.text
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # nothing listens there
    failed = web.post("/keys/test", data={"csrf_token": token, "provider": "openai"})
    assert "Could not reach OpenAI" in failed.text
    (standing,) = hr.provider_keys()
    assert standing.status == "failing"
    assert 'data-status="failing"' in web.get("/keys").text
    missing = web.post("/keys/test", data={"csrf_token": token, "provider": "anthropic"})
    assert missing.status_code == 400
    assert "no Anthropic key is stored" in missing.text
    removed = web.post("/keys/remove", data={"csrf_token": token, "provider": "openai"})
    assert removed.status_code == 303
    assert hr.provider_keys() == []
    assert [e.action for e in hr.audit_log()] == ["key.remove", "key.set"]


def test_the_workers_use_the_stored_keys(hr: Halfrate) -> None:
    hr.save_provider_key("openai", OPENAI_KEY)
    hr.submit([spec("a"), spec("b", "hello")], job="stored-key")
    summary = hr.run_worker(RunMode.UNTIL_IDLE)
    assert summary is not None
    assert {r.status for r in hr.results("stored-key")} == {"succeeded"}


def test_without_the_secret_nothing_is_saved_and_the_reason_is_given(
    hr: Halfrate, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HALFRATE_SECRET_KEY")
    web, token = signed(hr, "ada@example.com")
    page = web.get("/keys").text
    assert "HALFRATE_SECRET_KEY</code> is not set" in page
    answer = web.post("/keys", data={"csrf_token": token, "openai_key": OPENAI_KEY})
    assert answer.status_code == 400
    assert "HALFRATE_SECRET_KEY is not set" in answer.text
    assert OPENAI_KEY not in answer.text
    assert hr.provider_keys() == []
    with pytest.raises(ConfigError, match="HALFRATE_SECRET_KEY is not set"):
        hr.save_provider_key("openai", OPENAI_KEY)


def test_keys_sealed_with_another_secret_are_refused_clearly(
    hr: Halfrate, monkeypatch: pytest.MonkeyPatch
) -> None:
    hr.save_provider_key("openai", OPENAI_KEY)
    monkeypatch.setenv("HALFRATE_SECRET_KEY", "z" * 40)
    with pytest.raises(ConfigError, match="encrypted with another HALFRATE_SECRET_KEY"):
        hr.run_worker(RunMode.UNTIL_IDLE)
    monkeypatch.setenv("HALFRATE_SECRET_KEY", "short")
    with pytest.raises(ConfigError, match="at least 32 characters"):
        hr.stored_provider_keys()


@pytest.mark.parametrize(
    ("value", "status", "words"),
    [
        ("sk-has a space-123456", 400, "holds a space"),
        ("sk-\u00e9t\u00e9-1234567890", 400, "outside ASCII"),
        ("short", 400, "8 to 400 characters"),
        ("x" * 401, 400, "8 to 400 characters"),
        ("x" * 5000, 422, "openai_key"),
        ("   ", 400, "both fields are empty"),
    ],
)
def test_malformed_keys_are_refused_in_one_line_without_showing_them(
    hr: Halfrate, value: str, status: int, words: str
) -> None:
    web, token = signed(hr, "ada@example.com")
    answer = web.post("/keys", data={"csrf_token": token, "openai_key": value})
    assert answer.status_code == status
    assert words in answer.text
    if len(value.strip()) >= 8:
        assert value not in answer.text
    assert "Traceback" not in answer.text
    assert hr.provider_keys() == []


def test_members_reach_no_key_page_and_forms_need_the_token(hr: Halfrate) -> None:
    member, token = signed(hr, "sam@example.com")
    assert member.get("/keys").status_code == 403
    for path in ("/keys", "/keys/test", "/keys/remove"):
        form = {"csrf_token": token, "openai_key": OPENAI_KEY, "provider": "openai"}
        assert member.post(path, data=form).status_code == 403
    admin, _ = signed(hr, "ada@example.com")
    assert admin.post("/keys", data={"openai_key": OPENAI_KEY}).status_code == 403
    assert hr.provider_keys() == []
    with pytest.raises(InputError, match="provider"):
        hr.remove_provider_key("gemini")


def test_connect_works_without_the_secret_when_no_key_is_stored(isolated_env: Path) -> None:
    with halfrate.connect() as connection:
        assert connection.stored_provider_keys() == {}


def test_the_servers_worker_starts_afresh_after_a_key_changes(hr: Halfrate) -> None:
    with TestClient(
        create_app(hr, secret="s" * 40, run_worker=True), follow_redirects=False
    ) as web:
        worker = web.app.state.web.worker  # type: ignore[attr-defined]
        first = worker.pid
        token = sign_in(web, "ada@example.com")
        assert web.post("/keys", data={"csrf_token": token, "openai_key": OPENAI_KEY}).is_success
        deadline = time.monotonic() + 60
        while worker.pid == first and time.monotonic() < deadline:
            time.sleep(0.1)
        assert worker.pid != first
        assert worker._process.is_alive()
