"""The Policy page: the rules in words and a request's lane explained for everyone; for admins
a new policy, edited or uploaded, checked with line-numbered errors before it takes effect (and
then used by this server's submissions and by `halfrate policy explain`), every version kept and
restorable, each change in the audit log; a member changes nothing; a policy file given to the
server wins, and the page says so."""

from __future__ import annotations

from pathlib import Path

import pytest

import halfrate
from halfrate.api import Halfrate
from tests.integration.test_cli import run
from tests.integration.test_web import PASSWORD
from tests.integration.test_web_budgets import hr, signed

__all__ = ["hr"]  # the fixture (an admin and a member), used by name

ALL_BATCH = """
[[rule]]
name = "Everything waits for a batch"
lane = "batch"
"""
BROKEN = """[[rule]]
name = "Nowhere"
lane = "teleport"
"""


def test_everyone_reads_the_rules_and_tries_a_request(hr: Halfrate) -> None:
    web, _token = signed(hr, "sam@example.com")
    page = web.get("/policy").text
    assert "From the built-in policy." in page
    assert "When a person is waiting: run in realtime." in page
    assert (
        "When the deadline is at least the batch window plus margin, 1d 1h away: run in batch."
        in page
    )
    assert "Change the policy" not in page
    tried = web.get("/policy", params={"tried": "1", "feature": "digest", "deadline": "2d"})
    assert tried.status_code == 200
    assert "data-lane>batch" in tried.text
    assert "rule 2 &#34;The deadline leaves time for a batch&#34;" in tried.text
    waiting = web.get("/policy", params={"tried": "1", "waiting": "yes"}).text
    assert "data-lane>realtime" in waiting
    bad = web.get("/policy", params={"tried": "1", "deadline": "soonish"})
    assert bad.status_code == 400
    assert "soonish" in bad.text


def test_a_member_changes_nothing(hr: Halfrate) -> None:
    web, token = signed(hr, "sam@example.com")
    assert web.post("/policy", data={"csrf_token": token, "text": ALL_BATCH}).status_code == 403
    files = {"policy_file": ("p.toml", ALL_BATCH.encode(), "text/plain")}
    upload = web.post("/policy/upload", data={"csrf_token": token}, files=files)
    assert upload.status_code == 403
    assert (
        web.post("/policy/restore", data={"csrf_token": token, "version": "1"}).status_code == 403
    )
    assert hr.policy_versions() == []
    assert hr.audit_log() == []


def test_an_admin_changes_the_policy_checked_first_and_restores_it(hr: Halfrate) -> None:
    web, token = signed(hr, "ada@example.com")
    refused = web.post("/policy", data={"csrf_token": token, "text": BROKEN})
    assert refused.status_code == 400
    assert "line 3" in refused.text
    assert "teleport" in refused.text
    assert hr.policy_versions() == []  # not applied, not kept
    # The built-in policy still routes: a person waiting runs in realtime.
    assert hr.route(waiting=True).decision.lane.value == "realtime"
    saved = web.post("/policy", data={"csrf_token": token, "text": ALL_BATCH})
    assert saved.status_code == 303
    assert hr.route(waiting=True).decision.lane.value == "batch"  # in effect at once
    page = web.get("/policy").text
    assert "From version 1, saved by ada@example.com" in page
    assert "Every request that gets here: run in batch." in page
    # Every process reads the same saved policy.
    explained = run("policy", "explain", "--feature", "x")
    assert "policy version 1 (saved on the web page)" in explained.stdout
    files = {
        "policy_file": (
            "nightly.toml",
            b"\xef\xbb\xbf" + BROKEN.replace("teleport", "flex").encode(),
            "text/plain",
        )
    }
    assert web.post("/policy/upload", data={"csrf_token": token}, files=files).status_code == 303
    assert hr.route(waiting=True).decision.lane.value in ("flex", "realtime")
    versions = hr.policy_versions()
    assert [(v.id, v.note, v.active) for v in versions] == [
        (2, "uploaded nightly.toml", True),
        (1, "edited on the page", False),
    ]
    restored = web.post("/policy/restore", data={"csrf_token": token, "version": "1"})
    assert restored.status_code == 303
    assert hr.route(waiting=True).decision.lane.value == "batch"
    assert [e.action for e in hr.audit_log()] == ["policy.restore", "policy.save", "policy.save"]
    missing = web.post("/policy/restore", data={"csrf_token": token, "version": "99"})
    assert missing.status_code == 400
    assert "no policy version 99" in missing.text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfe not utf-8", "nightly.toml: not UTF-8 text"),
        (b"x" * (300 * 1024), "nightly.toml: larger than 256 KB"),
        (b"[[rule]\nname = 1", "nightly.toml: policy the new policy: not valid TOML"),
    ],
)
def test_a_bad_upload_changes_nothing(hr: Halfrate, content: bytes, message: str) -> None:
    web, token = signed(hr, "ada@example.com")
    files = {"policy_file": ("nightly.toml", content, "text/plain")}
    answer = web.post("/policy/upload", data={"csrf_token": token}, files=files)
    assert answer.status_code == 400
    assert message in answer.text
    assert hr.policy_versions() == []


def test_a_policy_file_given_to_the_server_wins_and_the_page_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_env: Path
) -> None:
    file = tmp_path / "policy.toml"
    file.write_text(ALL_BATCH, encoding="utf-8")
    monkeypatch.setenv("HALFRATE_POLICY", str(file))
    with halfrate.connect() as hr:
        hr.add_account("ada@example.com", PASSWORD, "ops", admin=True)
        web, token = signed(hr, "ada@example.com")
        page = web.get("/policy").text
        assert f"From the file {file} (HALFRATE_POLICY)." in page
        assert "Check and save policy" not in page
        refused = web.post("/policy", data={"csrf_token": token, "text": ALL_BATCH})
        assert refused.status_code == 400
        assert "HALFRATE_POLICY names" in refused.text
        assert hr.policy_versions() == []
