"""An API key never leaves halfrate's hands: a job with failures run with HALFRATE_DEBUG=1 and a
verbose worker, a command that fails with a traceback, and a malformed key; then every byte
halfrate printed or wrote (stdout, stderr, the store, its spool, results, sinks) is searched
for the key. None may hold it."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from halfrate import logs
from halfrate.sandbox import SandboxServer
from tests.helpers import chat_line, write_jsonl
from tests.integration.test_cli import assert_one_line_error, run

KEY = "sk-test-Zq8ThisIsTheSecretPart0123456789"
SECRET = KEY[12:]  # what is left of the key once its shown prefix is cut


def every_file(*folders: Path) -> list[Path]:
    return [path for folder in folders for path in folder.rglob("*") if path.is_file()]


def test_no_byte_halfrate_prints_or_writes_holds_the_key(
    tmp_path: Path, isolated_env: Path
) -> None:
    printed: list[str] = []
    lines = [chat_line(f"k{i}", f"secret-safe question {i}") for i in range(30)]
    source = write_jsonl(tmp_path / "in.jsonl", lines)
    with SandboxServer(latency=0.05, faults="line_invalid=0.3,line_500=0.2,seed=5") as sandbox:
        env = {
            "OPENAI_BASE_URL": sandbox.base_url,
            "OPENAI_API_KEY": KEY,
            "HALFRATE_DEBUG": "1",
            "HALFRATE_MAX_ATTEMPTS": "2",
            "HALFRATE_RETRY_BACKOFF_SECONDS": "0",
            "HALFRATE_POLL_INITIAL_SECONDS": "0.05",
            "HALFRATE_POLL_MAX_SECONDS": "0.2",
            "HALFRATE_WORKER_IDLE_SECONDS": "0.05",
        }
        sink = tmp_path / "sink.csv"
        steps = [
            ("submit", str(source), "--job", "secret", "--sink", str(sink), "-v"),
            ("worker", "--until-idle", "-v"),
            ("status", "secret"),
            ("results", "secret", "-o", str(tmp_path / "results.csv")),
            ("results", "secret"),
            ("report", "--by", "model"),
        ]
        for step in steps:
            proc = run(*step, env=env)
            assert proc.returncode == 0, (step, proc.stderr)
            printed.append(proc.stdout + proc.stderr)

    # A traceback (HALFRATE_DEBUG=1) of an error whose message held the key.
    leaky = tmp_path / f"{KEY}.jsonl"
    proc = run("submit", str(leaky), env=env)
    assert "Traceback" in proc.stderr
    printed.append(proc.stdout + proc.stderr)
    # Work waiting for a provider that is gone: a traceback through the SDK.
    write_jsonl(tmp_path / "more.jsonl", [chat_line("m1", "more")])
    assert run("submit", str(tmp_path / "more.jsonl"), env=env).returncode == 0
    gone = {**env, "OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "HALFRATE_REALTIME_MAX_RETRIES": "0"}
    proc = run("worker", "--once", env=gone)
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr
    printed.append(proc.stdout + proc.stderr)

    for text in printed:
        assert SECRET not in text, text
    files = every_file(tmp_path, isolated_env)
    assert any(path.suffix == ".db" for path in files)  # the store was searched too
    for path in files:
        assert SECRET.encode() not in path.read_bytes(), path
    assert "failed" in printed[2]  # the job really had failures


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (KEY + "\n", "begins or ends with a space or a line break"),
        (" " + KEY, "begins or ends with a space or a line break"),
        (KEY[:20] + " " + KEY[20:], "a space, a line break or a character outside ASCII"),
        (KEY + "é", "a space, a line break or a character outside ASCII"),
    ],
)
def test_a_malformed_key_is_said_to_be_malformed_and_never_shown(
    tmp_path: Path, isolated_env: Path, value: str, why: str
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", [chat_line("k1", "hello")])
    env = {"OPENAI_API_KEY": value, "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}
    assert run("submit", str(source), env=env).returncode == 0
    proc = run("worker", "--once", env=env)
    assert_one_line_error(proc, "OPENAI_API_KEY is malformed", why)
    assert SECRET[:10] not in proc.stdout + proc.stderr


def test_a_logged_traceback_is_masked_whole(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    logs.configure(verbose=False)
    try:
        try:
            raise RuntimeError(f"Incorrect API key provided: Bearer {KEY}")
        except RuntimeError:
            logging.getLogger("halfrate.test").exception("the call failed for %s", KEY)
    finally:
        logging.getLogger().handlers.clear()
    said = capsys.readouterr().err
    assert "Traceback" in said
    assert "Incorrect API key provided" in said
    assert SECRET not in said
