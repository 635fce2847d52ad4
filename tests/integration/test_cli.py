"""The command line as users run it: one clear line on every failure. Commands run in this
process (`run`); what only a real process shows, its entry points and exit codes, and a
sandbox serving in the background, run as processes."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.helpers import chat_line, write_jsonl

HALFRATE = (sys.executable, "-m", "halfrate")
# Loggers `halfrate.logs.configure` sets a level on; `run` puts their levels back afterwards.
_CONFIGURED_LOGGERS = ("", "httpx", "httpx2", "openai", "anthropic", "uvicorn.access")


@contextlib.contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    """``env`` on top of ``os.environ`` for the duration; every variable as it was afterwards
    (also any the command set itself)."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        yield
    finally:
        for name in [name for name in os.environ if name not in saved]:
            del os.environ[name]
        for name, value in saved.items():
            if os.environ.get(name) != value:
                os.environ[name] = value


@contextlib.contextmanager
def _logging_restored() -> Iterator[None]:
    """``halfrate.logs.configure`` replaces the root logger's handlers (pytest's among them) and
    sets levels; afterwards the loggers are as they were and the handlers it added are closed."""
    loggers = [logging.getLogger(name) for name in _CONFIGURED_LOGGERS]
    saved = [(logger, logger.handlers[:], logger.level) for logger in loggers]
    try:
        yield
    finally:
        for logger, handlers, level in saved:
            added = [handler for handler in logger.handlers if handler not in handlers]
            logger.handlers[:] = handlers
            logger.setLevel(level)
            for handler in added:
                handler.close()


def run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`halfrate ARGS` run in this process as a script runs it: ``env`` on top of the
    environment, stdout and stderr captured, stdin not a terminal, the exit code taken from
    ``SystemExit``. (``timeout`` is for `run_process`; in here pytest-timeout catches a hang.)"""
    from halfrate.cli import main

    argv = ["halfrate", *args]
    out, err = io.StringIO(), io.StringIO()
    saved_argv, saved_stdin, saved_cwd = sys.argv, sys.stdin, os.getcwd()
    with (
        _environment(env or {}),
        _logging_restored(),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        # argv[0] is what click names the program in usage lines and hints.
        sys.argv, sys.stdin = argv, io.StringIO()
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            if exc.code is None or isinstance(exc.code, int):
                code = exc.code or 0
            else:  # sys.exit("message"): the interpreter prints it and exits with 1
                print(exc.code, file=sys.stderr)
                code = 1
        finally:
            sys.argv, sys.stdin = saved_argv, saved_stdin
            os.chdir(saved_cwd)
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


def run_process(
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    command: Sequence[str] = HALFRATE,
) -> subprocess.CompletedProcess[str]:
    """`python -m halfrate ARGS` (or ``command``) as a real process, for what only a process
    shows: the entry point, the exit code the operating system sees."""
    return subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        check=False,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("halfrate: error: ")
    for needle in needles:
        assert needle in lines[0]


def request_count(home: Path) -> int:
    engine = sa.create_engine(f"sqlite:///{home / 'halfrate.db'}")
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT count(*) FROM requests")).scalar_one())
    finally:
        engine.dispose()


def test_help_lists_every_setting() -> None:
    proc = run("--help")
    assert proc.returncode == 0
    for name in (
        "HALFRATE_HOME",
        "HALFRATE_DATABASE_URL",
        "HALFRATE_MAX_ATTEMPTS",
        "OPENAI_API_KEY",
    ):
        assert name in proc.stdout


def _console_script() -> list[str]:
    script = Path(sys.executable).with_name("halfrate")
    # `make test` installs halfrate in the interpreter that runs the tests: the script is there.
    assert script.exists(), f"no console script at {script}"
    return [str(script)]


@pytest.mark.parametrize("entry", ["python -m halfrate", "halfrate"])
def test_the_entry_points_start_the_command_line(entry: str) -> None:
    command = list(HALFRATE) if entry == "python -m halfrate" else _console_script()
    proc = run_process("--help", command=command)
    assert proc.returncode == 0, proc.stderr
    assert "HALFRATE_HOME" in proc.stdout
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("args", "code"), [(("status", "no-such-job"), 1), (("no-such-command",), 2)]
)
def test_a_process_exits_with_the_code_of_its_failure(args: tuple[str, ...], code: int) -> None:
    proc = run_process(*args)
    assert proc.returncode == code
    assert_one_line_error(proc, args[-1])


def test_resubmitting_the_same_file_creates_nothing(tmp_path: Path, isolated_env: Path) -> None:
    path = write_jsonl(tmp_path / "r.jsonl", [chat_line(f"k{i}", f"hello {i}") for i in range(20)])
    first = run("submit", str(path), "--job", "nightly", "--feature", "triage")
    assert first.returncode == 0, first.stderr
    second = run("submit", str(path), "--job", "nightly")
    assert second.returncode == 0, second.stderr
    assert first.stdout.strip().splitlines()[-1] == second.stdout.strip().splitlines()[-1]
    assert first.stdout.strip().splitlines()[-1].startswith("job_")
    assert "0 requests stored, 20 already submitted" in second.stdout
    assert request_count(isolated_env) == 20
    # Without --job the name comes from the file's name and content: also idempotent.
    third = run("submit", str(path))
    fourth = run("submit", str(path))
    assert third.stdout.splitlines()[-1] == fourth.stdout.splitlines()[-1]
    assert request_count(isolated_env) == 40


def test_bad_file_is_rejected_whole_with_line_and_field(tmp_path: Path, isolated_env: Path) -> None:
    good = [chat_line(f"k{i}", "x") for i in range(5)]
    bad = chat_line("k5", "x")
    bad["method"] = "GET"
    path = write_jsonl(tmp_path / "bad.jsonl", [*good, bad])
    proc = run("submit", str(path))
    assert_one_line_error(proc, "bad.jsonl, line 6", "'method'")
    assert not (isolated_env / "halfrate.db").exists() or request_count(isolated_env) == 0


def test_conflicting_resubmission_names_the_key(tmp_path: Path, isolated_env: Path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", [chat_line("k1", "one"), chat_line("k2", "two")])
    assert run("submit", str(path), "--job", "j").returncode == 0
    changed = write_jsonl(tmp_path / "b.jsonl", [chat_line("k3", "three"), chat_line("k2", "TWO")])
    proc = run("submit", str(changed), "--job", "j")
    assert_one_line_error(proc, "'k2'", "different request")
    assert request_count(isolated_env) == 2


@pytest.mark.parametrize(
    ("args", "env", "needles"),
    [
        (("status", "no-such-job"), {}, ("no job with id or name 'no-such-job'",)),
        (("results", "no-such-job"), {}, ("no job",)),
        (("submit", "/nonexistent/file.jsonl"), {}, ("cannot read file",)),
        (("worker", "--once", "--until-idle"), {}, ("exclude each other",)),
        (("worker", "--once"), {}, ("OPENAI_API_KEY is not set",)),
        (
            ("status",),
            {"HALFRATE_DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:9/none"},
            ("database postgresql+psycopg://postgres@127.0.0.1:9/none", "refused"),
        ),
        (("status",), {"HALFRATE_DATABASE_URL": "mysql://x@y/z"}, ("unsupported database",)),
        (("status",), {"HALFRATE_MAX_ATTEMPTS": "lots"}, ("HALFRATE_MAX_ATTEMPTS",)),
        (("results", "x", "--format", "xml"), {}, ("'xml'",)),
        (("sandbox", "--port", "99999"), {}, ("'--port'", "65535")),
        (("no-such-command",), {}, ("no-such-command",)),
        (("submit", "x.jsonl", "--feature", "f" * 300), {}, ("--feature is longer than 200",)),
        (("submit", "x.jsonl", "--job", " "), {}, ("job name is empty",)),
    ],
)
def test_failures_are_one_clear_line(
    args: tuple[str, ...], env: dict[str, str], needles: tuple[str, ...]
) -> None:
    proc = run(*args, env=env)
    assert_one_line_error(proc, *needles)
    assert "sk-secret-abcdefghijkl" not in proc.stderr


def test_a_provider_with_work_that_cannot_be_reached_is_one_line_without_the_key(
    tmp_path: Path, isolated_env: Path
) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", [chat_line("k1", "one")])
    assert run("submit", str(path)).returncode == 0
    env = {
        "OPENAI_API_KEY": "sk-secret-abcdefghijkl",
        "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
        "HALFRATE_REALTIME_MAX_RETRIES": "0",
    }
    proc = run("worker", "--once", env=env)
    assert_one_line_error(proc, "cannot reach the API")
    assert "sk-secret-abcdefghijkl" not in proc.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_submit_worker_results_against_a_sandbox_process(tmp_path: Path) -> None:
    port = free_port()
    sandbox = subprocess.Popen(
        [*HALFRATE, "sandbox", "--port", str(port), "--latency", "0.5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        env = {
            "OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1",
            "OPENAI_API_KEY": "sandbox",
            "HALFRATE_POLL_INITIAL_SECONDS": "0.1",
            "HALFRATE_POLL_MAX_SECONDS": "0.5",
        }
        path = write_jsonl(
            tmp_path / "r.jsonl", [chat_line(f"row-{i}", f"hi {i}") for i in range(30)]
        )
        submitted = run("submit", str(path), "--job", "cli-e2e", env=env)
        assert submitted.returncode == 0, submitted.stderr
        worked = run("worker", "--until-idle", env=env)
        assert worked.returncode == 0, worked.stderr
        assert "30 succeeded" in worked.stdout
        # The receipt: 30 gpt-4o-mini lines at the batch price, half of realtime.
        receipt = next(line for line in worked.stdout.splitlines() if line.startswith("receipt"))
        assert "(50.0%); by lane: batch $" in receipt
        report = json.loads(run("report", "--format", "json", env=env).stdout)
        assert report["total"]["requests"] == 30
        assert report["total"]["saved_pct"] == 50.0
        assert f"paid ${float(report['total']['spend_usd']):,.4f}," in receipt
        status = run("status", "cli-e2e", "--json", env=env)
        assert '"succeeded": 30' in status.stdout
        out = tmp_path / "out.csv"
        exported = run("results", "cli-e2e", "-o", str(out), env=env)
        assert exported.returncode == 0, exported.stderr
        with out.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        assert len(rows) == 30
        assert {row["custom_id"] for row in rows} == {f"row-{i}" for i in range(30)}
        assert {row["status"] for row in rows} == {"succeeded"}
        assert all(row["output_text"].startswith("[halfrate sandbox]") for row in rows)
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)


def test_demo_runs_with_no_keys(isolated_env: Path) -> None:
    proc = run("demo", timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert "300 succeeded, 0 failed" in proc.stdout
    assert "receipt    paid $" in proc.stdout
    results_file = isolated_env / "demo" / "results.jsonl"
    assert results_file.exists()
    assert len(results_file.read_text().splitlines()) == 300


def test_policy_explain_says_lane_model_and_rule(tmp_path: Path) -> None:
    waiting = run("policy", "explain", "--feature", "search", "--waiting")
    assert waiting.returncode == 0, waiting.stderr
    assert waiting.stdout.splitlines()[0] == "lane   realtime"
    assert 'rule 1 "A person is waiting for the answer"' in waiting.stdout
    policy = tmp_path / "policy.toml"
    policy.write_text(
        '[[rule]]\nname = "Triage on the small model"\nwhen = { feature = "ticket-triage" }\n'
        'lane = "batch"\nmodel = { "gpt-4o" = "gpt-4o-mini" }\n',
        encoding="utf-8",
    )
    env = {"HALFRATE_POLICY": str(policy)}
    routed = run("policy", "explain", "--feature", "ticket-triage", "--model", "gpt-4o", env=env)
    assert routed.returncode == 0, routed.stderr
    assert "lane   batch" in routed.stdout
    assert "model  gpt-4o-mini (instead of gpt-4o)" in routed.stdout
    assert f"({policy}, line 1)" in routed.stdout
    as_json = run("policy", "explain", "--deadline", "2d", "--json")
    decided = json.loads(as_json.stdout)
    assert decided["lane"] == "batch"
    assert decided["rule"]["number"] == 2


def test_policy_failures_are_one_clear_line(tmp_path: Path) -> None:
    assert_one_line_error(run("policy", "explain", "--deadline", "yesterday"), "'yesterday'")
    assert_one_line_error(run("policy", "explain", "--deadline", "2001-01-01"), "in the past")
    assert_one_line_error(run("policy", "explain", "--tag", "novalue"), "KEY=VALUE")
    bad = tmp_path / "bad.toml"
    bad.write_text('[[rule]]\nname = "x"\nlane = "bach"\n', encoding="utf-8")
    assert_one_line_error(
        run("policy", "explain", env={"HALFRATE_POLICY": str(bad)}),
        f"policy {bad}, line 3",
        "'bach'",
    )


def test_a_file_sink_never_overwrites_a_file_it_did_not_create(
    tmp_path: Path, isolated_env: Path
) -> None:
    precious = write_jsonl(tmp_path / "precious.jsonl", [chat_line("k1", "one")])
    kept = precious.read_bytes()
    existing = tmp_path / "existing.jsonl"
    existing.write_text("a year of answers\n", encoding="utf-8")
    proc = run("submit", str(precious), "--sink", str(existing))
    assert_one_line_error(proc, f"--sink {existing}", "the file exists")
    proc = run(
        "submit", str(precious), "--sink", str(tmp_path / "new.jsonl"), "--sink", str(precious)
    )
    assert_one_line_error(proc, f"--sink {precious}", "the file being submitted")
    assert existing.read_text(encoding="utf-8") == "a year of answers\n"
    assert precious.read_bytes() == kept
    assert request_count(isolated_env) == 0  # nothing stored
    # The job's own sink, given again with the same file, is its own: accepted.
    sink = tmp_path / "results.jsonl"
    assert run("submit", str(precious), "--job", "j", "--sink", str(sink)).returncode == 0
    sink.write_text("", encoding="utf-8")  # as its first delivery would have started it
    again = run("submit", str(precious), "--job", "j", "--sink", str(sink))
    assert again.returncode == 0, again.stderr


def test_a_webhook_to_this_machine_or_its_network_is_refused_at_submit(
    tmp_path: Path, isolated_env: Path
) -> None:
    source = write_jsonl(tmp_path / "a.jsonl", [chat_line("k1", "one")])
    proc = run("submit", str(source), "--sink", "http://169.254.169.254/latest/meta-data/")
    assert_one_line_error(
        proc,
        "--sink webhook:http://169.254.169.254/latest/meta-data/",
        "HALFRATE_WEBHOOK_ALLOW_PRIVATE=1",
    )
    # Given through a variable (the way a URL with a token is given): checked all the same.
    env = {"HOOK_URL": "http://localhost:22/?token=abc"}
    proc = run("submit", str(source), "--sink", "webhook:env:HOOK_URL", env=env)
    assert_one_line_error(proc, "--sink webhook:env:HOOK_URL", "not a public address")
    assert "abc" not in proc.stderr
    assert request_count(isolated_env) == 0


def test_a_body_the_provider_would_refuse_is_refused_at_submit(
    tmp_path: Path, isolated_env: Path
) -> None:
    good = chat_line("k1", "one")
    bad = {**chat_line("k2", "two"), "body": {"model": "gpt-4o-mini", "messages": "notalist"}}
    path = write_jsonl(tmp_path / "a.jsonl", [good, bad])
    proc = run("submit", str(path))
    assert_one_line_error(proc, "a.jsonl, line 2", "'body.messages' must be a non-empty list")
    ten = {**chat_line("k3", "three"), "body": {**good["body"], "max_tokens": "ten"}}
    proc = run("submit", str(write_jsonl(tmp_path / "b.jsonl", [good, ten])))
    assert_one_line_error(proc, "b.jsonl, line 2", "'body.max_tokens' must be a whole number")
    assert request_count(isolated_env) == 0  # the file is refused whole
