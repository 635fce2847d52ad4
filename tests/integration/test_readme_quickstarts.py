"""The README's quickstarts run as written, from the `examples/` folder, against the sandbox,
and save money where they say they do. The commands are read from the README itself, so a
quickstart that drifts from what halfrate does fails here."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

from halfrate.sandbox import SandboxServer
from tests.integration.test_cli import HALFRATE, free_port, run
from tests.integration.test_run import env_for

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
SAVED = re.compile(r"saved \$[0-9.]+ \(([0-9.]+)%\)")


def section(title: str) -> str:
    start = README.index(f"## {title}\n")
    end = README.find("\n## ", start + 3)
    return README[start : end if end != -1 else None]


def code_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


def commands(block: str) -> list[list[str]]:
    """Each `halfrate …` command of a shell block, continuation lines joined; the sandbox start,
    `cd` and `export` lines are what the test's own sandbox and folder stand in for."""
    joined = block.replace("\\\n", " ")
    found = []
    for line in joined.splitlines():
        line = line.strip().removeprefix("$ ")
        if line.startswith("halfrate ") and not line.startswith("halfrate sandbox"):
            found.append(shlex.split(line, comments=True)[1:])
    return found


@pytest.fixture
def examples(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "examples"
    shutil.copytree(ROOT / "examples", folder)
    monkeypatch.chdir(folder)
    return folder


@pytest.fixture
def sandbox_env() -> Iterator[dict[str, str]]:
    with SandboxServer(latency=0.2) as server:
        yield {
            **env_for(server),
            "ANTHROPIC_BASE_URL": server.root_url,
            "ANTHROPIC_API_KEY": "sandbox",
        }


def test_the_command_line_quickstart_runs_as_written_and_saves(
    examples: Path, sandbox_env: dict[str, str]
) -> None:
    (block,) = code_blocks(section("Quickstart: command line"), "sh")
    steps = commands(block)
    assert [step[0] for step in steps] == [
        "estimate", "submit", "worker", "status", "results", "report"
    ]  # fmt: skip
    outputs = []
    for step in steps:
        proc = run(*step, env=sandbox_env)
        assert proc.returncode == 0, (step, proc.stderr)
        outputs.append(proc.stdout)
    assert "60 requests stored" in outputs[1]
    assert "batch" in outputs[1]
    assert "realtime" not in outputs[1]  # needed in two days: no request pays full price
    saved = SAVED.search(outputs[-1].replace(",", "")) or SAVED.search(outputs[2])
    assert saved is not None, outputs[-1]
    assert float(saved.group(1)) >= 50.0
    assert (examples / "results.csv").exists()
    assert (examples / "triage.csv").exists()


def test_the_spreadsheet_quickstart_runs_as_written_and_saves(
    examples: Path, sandbox_env: dict[str, str]
) -> None:
    steps = [
        step
        for block in code_blocks(section("Quickstart: a spreadsheet and one prompt"), "sh")
        for step in commands(block)
    ]
    assert len(steps) >= 2
    for step in steps:
        # The transcript answers the price question "y"; with no terminal, --yes says it.
        proc = run(*step, *([] if "--yes" in step else ["--yes"]), env=sandbox_env)
        assert proc.returncode == 0, (step, proc.stderr)
        receipt = SAVED.search(proc.stdout)
        assert receipt is not None, proc.stdout
        assert float(receipt.group(1)) >= 50.0
        assert "200 rows written" in proc.stdout
    assert len(list(examples.glob("tickets.answers-*.csv"))) == len(steps)


def test_the_python_quickstart_runs_as_written(
    examples: Path, sandbox_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in sandbox_env.items():
        monkeypatch.setenv(name, value)
    (code,) = code_blocks(section("Quickstart: Python"), "python")
    exec(compile(code, "README.md", "exec"), {"__name__": "quickstart"})


def test_the_web_page_quickstart_runs_as_written_and_saves(
    examples: Path, sandbox_env: dict[str, str]
) -> None:
    block = code_blocks(section("Quickstart: the web page"), "sh")[0]
    steps = commands(block)
    assert [step[0] for step in steps[:2]] == ["user", "serve"]
    added = run(*steps[0], env=sandbox_env)
    assert added.returncode == 0, added.stderr
    email = steps[0][2]
    password = re.search(r"password: (\S+)", added.stdout)
    assert password is not None, added.stdout
    port = free_port()
    env = {**os.environ, **sandbox_env, "HALFRATE_WORKER_IDLE_SECONDS": "0.05"}
    server = subprocess.Popen(
        [*HALFRATE, *steps[1], "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        web = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
        deadline = time.monotonic() + 60
        while True:
            try:
                signin = web.get("/signin")
                break
            except httpx.TransportError:
                assert server.poll() is None, server.communicate()[1]
                assert time.monotonic() < deadline, "the web page did not come up"
                time.sleep(0.2)
        token = CSRF.search(signin.text)
        assert token is not None
        form = {"email": email, "password": password.group(1), "csrf_token": token.group(1)}
        assert web.post("/signin", data=form).status_code == 303
        token = CSRF.search(web.get("/jobs/new").text)  # a new session, a new token
        assert token is not None
        # What the quickstart says to do on the page: upload the example, click its column, Run.
        with (examples / "tickets.csv").open("rb") as handle:
            sent = web.post(
                "/uploads",
                data={"csrf_token": token.group(1)},
                files={"spreadsheet": ("tickets.csv", handle, "text/csv")},
            )
        upload = sent.headers["location"].split("upload=")[1]
        asked = {"csrf_token": token.group(1), "upload": upload,
                 "prompt": "Sort this ticket: {ticket text}"}  # fmt: skip
        job = web.post("/jobs/new/run", data=asked).headers["location"]
        while "data-finished" not in (page := web.get(f"{job}/progress").text):
            assert time.monotonic() < deadline + 60, page
            time.sleep(0.3)
        assert "200 of 200 rows answered." in page
        paid, realtime = (
            float(v) for v in re.findall(r"\$([0-9.]+)", page.split('class="receipt"')[1])[:2]
        )
        assert paid <= realtime / 2  # by tomorrow, and the repeated tickets asked once
    finally:
        server.terminate()
        server.wait(30)
