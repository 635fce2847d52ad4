"""Every help page speaks the user's words: arguments and options by the names typed, no
library type names (``<path>``, ``<int range>``, ``list[str]``), no braces, and every line
within 80 columns."""

from __future__ import annotations

import re

import pytest

from tests.integration.test_cli import run

COMMANDS = [
    [], ["submit"], ["worker"], ["cancel"], ["status"], ["results"], ["sandbox"], ["demo"],
    ["policy"], ["policy", "explain"], ["run"], ["report"], ["estimate"],
]  # fmt: skip
INTERNAL = re.compile(r"<(path|str|int|float|text|bool)[^>]*>|list\[|\{[A-Z]+\}|default: None")


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "halfrate")
def test_help_names_what_people_type_within_80_columns(command: list[str]) -> None:
    proc = run(*command, "--help", env={"COLUMNS": "80"})
    assert proc.returncode == 0, proc.stderr
    assert INTERNAL.search(proc.stdout) is None, proc.stdout
    assert max(len(line) for line in proc.stdout.splitlines()) <= 80


def test_the_version_is_printed() -> None:
    proc = run("--version")
    assert proc.returncode == 0
    assert re.fullmatch(r"halfrate \d+\.\d+\.\d+.*\n", proc.stdout)
