"""Answers in columns, through both providers' structured-output features and the real SDKs:
each field of the answer becomes its own column with its own type; an answer that breaks the
schema (the sandbox's ``line_schema_break`` fault) is marked failed with the reason, never
silently dropped, and ``--retry-failed`` asks only those rows again."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from halfrate.sandbox import SandboxServer
from tests.integration.test_cli import run
from tests.integration.test_run import env_for

ROWS = 16
KINDS = ("billing", "bug", "other")
COLUMNS = "kind: billing|bug|other, product, urgent: boolean, score: number"


def write_tickets(path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "ticket"])
        writer.writerows(
            (str(n), f"Ticket {n}: checkout fails with code {n * 13}") for n in range(ROWS)
        )
    return path


def answers(folder: Path) -> list[dict[str, str]]:
    (out,) = folder.glob("tickets.answers-*.csv")
    with out.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def both_providers(server: SandboxServer) -> dict[str, str]:
    return {
        **env_for(server),
        "ANTHROPIC_BASE_URL": server.root_url,
        "ANTHROPIC_API_KEY": "sandbox-run",
    }


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(latency=0.1) as server:
        yield server


@pytest.fixture
def breaking() -> Iterator[SandboxServer]:
    with SandboxServer(latency=0.1, faults="line_schema_break=0.4,seed=5") as server:
        yield server


@pytest.mark.parametrize("model", ["gpt-4o-mini", "claude-haiku-4-5"])
def test_each_field_of_the_answer_is_its_own_column_on_both_providers(
    tmp_path: Path, sandbox: SandboxServer, isolated_env: Path, model: str
) -> None:
    path = write_tickets(tmp_path / "tickets.csv")
    proc = run(
        "run", str(path), "--prompt", "Sort this ticket: {ticket}", "--columns", COLUMNS,
        "--model", model, "--max-tokens", "200", "--yes", env=both_providers(sandbox),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = answers(tmp_path)
    assert list(rows[0]) == [
        "id",
        "ticket",
        "kind",
        "product",
        "urgent",
        "score",
        "status",
        "error",
    ]
    for row in rows:
        assert row["status"] == "succeeded", row
        assert row["error"] == ""
        assert row["kind"] in KINDS
        assert row["product"]
        assert row["urgent"] in ("TRUE", "FALSE")
        float(row["score"])
    # The request asked the provider's own structured-output feature for the schema.
    engine = sa.create_engine(f"sqlite:///{isolated_env / 'halfrate.db'}")
    with engine.connect() as conn:
        body = json.loads(
            conn.execute(sa.text("SELECT body FROM request_bodies LIMIT 1")).scalar_one()
        )
    engine.dispose()
    if model.startswith("claude"):
        schema = body["output_config"]["format"]["schema"]
    else:
        assert body["response_format"]["json_schema"]["strict"] is True
        schema = body["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["kind"] == {"type": "string", "enum": list(KINDS)}


@pytest.mark.parametrize("model", ["gpt-4o-mini", "claude-haiku-4-5"])
def test_answers_that_break_the_columns_are_failed_with_the_reason_and_retried(
    tmp_path: Path, breaking: SandboxServer, model: str
) -> None:
    path = write_tickets(tmp_path / "tickets.csv")
    command = (
        "run", str(path), "--prompt", "Sort this ticket: {ticket}", "--columns", COLUMNS,
        "--model", model, "--max-tokens", "200", "--yes",
    )  # fmt: skip
    first = run(*command, env=both_providers(breaking))
    assert first.returncode == 0, first.stderr
    rows = answers(tmp_path)
    broken = [row for row in rows if row["status"] == "failed"]
    assert 0 < len(broken) < ROWS
    for row in broken:
        assert row["error"].startswith(("the answer does not fit", "the answer is not JSON")), row
    for row in rows:
        if row["status"] == "succeeded":
            assert row["kind"] in KINDS
    again = run(*command, "--retry-failed", env=both_providers(breaking))
    assert again.returncode == 0, again.stderr
    assert f"{len(broken)} requests stored" in again.stdout
    after = answers(tmp_path)
    assert sum(row["status"] == "succeeded" for row in after) > ROWS - len(broken)
    for before, now in zip(rows, after, strict=True):
        if before["status"] == "succeeded":
            assert now == before  # a row that had its answer keeps it
