"""What halfrate keeps on disk is its owner's alone: the home folder and what it creates in it
(the store and its WAL, the spool of batch inputs, uploads, the web secret) are 0700 folders and
0600 files, whatever the umask; folders that were there before keep their mode."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pytest

import halfrate
from halfrate.api import Account
from halfrate.sandbox import SandboxServer
from halfrate.web.security import session_secret
from halfrate.web.uploads import Uploads
from tests.helpers import chat_line, write_jsonl
from tests.integration.test_run import env_for


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> object:
    """The loosest usual umask: what halfrate creates must not depend on a strict one."""
    before = os.umask(0o002)
    yield None
    os.umask(before)


def test_the_store_spool_and_secret_are_their_owners_alone(
    tmp_path: Path, isolated_env: Path, monkeypatch: pytest.MonkeyPatch, open_umask: object
) -> None:
    home = isolated_env / "nested"  # neither folder exists yet
    monkeypatch.setenv("HALFRATE_HOME", str(home))
    source = write_jsonl(tmp_path / "in.jsonl", [chat_line(f"k{i}", f"q {i}") for i in range(3)])
    with SandboxServer(latency=0.05) as sandbox:
        for name, value in env_for(sandbox).items():
            monkeypatch.setenv(name, value)
        with halfrate.connect() as hr:
            hr.submit_file(source)
            hr.run_worker()
            assert mode(home) == 0o700
            assert mode(isolated_env) == 0o700  # a parent it made too
            for path in home.rglob("*"):
                expected = 0o700 if path.is_dir() else 0o600
                assert mode(path) == expected, path
            assert (home / "halfrate.db-wal").exists()  # the WAL was checked too
            assert session_secret(home, public=False)
            assert mode(home / "web-secret") == 0o600


def test_uploads_are_their_owners_alone(tmp_path: Path, open_umask: object) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o755)  # made by someone else: left as it is
    owner = Account(
        id="u1", email="mia@example.com", team_id="t1", team="Marketing", is_admin=False
    )
    made = Uploads(home, 2**20).save(io.BytesIO(b"id,text\n1,hello\n"), "t.csv", owner)
    assert mode(home) == 0o755
    assert mode(home / "uploads") == 0o700
    assert mode(made.path.parent) == 0o700
    assert mode(made.path) == 0o600
    assert mode(made.path.parent / "upload.json") == 0o600
