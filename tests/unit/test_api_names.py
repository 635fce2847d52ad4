"""The names ``halfrate.api`` and ``halfrate.sandbox`` export load with their modules on first
use: each resolves to the object its module defines, importing the package alone loads none of
the heavy machinery, and the report's group names agree with the ledger's columns."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

import halfrate.api
import halfrate.sandbox
from halfrate.models import REPORT_GROUPS
from halfrate.store.ledger_reads import GROUPS


def test_every_exported_name_resolves_to_its_modules_object() -> None:
    for package in (halfrate.api, halfrate.sandbox):
        where = package._WHERE
        assert sorted(where) == sorted(package.__all__)
        for name, (module, attribute) in where.items():
            assert getattr(package, name) is getattr(importlib.import_module(module), attribute)


def test_an_unknown_name_is_an_attribute_error() -> None:
    for package in (halfrate.api, halfrate.sandbox):
        with pytest.raises(AttributeError, match="no_such_name"):
            package.no_such_name  # noqa: B018


def test_the_command_line_starts_without_the_heavy_machinery() -> None:
    probe = (
        "import sys, halfrate.cli.app; "
        "heavy = ['sqlalchemy', 'alembic', 'openai', 'anthropic', 'fastapi', 'openpyxl', "
        "'tiktoken', 'genai_prices', 'halfrate.store', 'halfrate.dispatch', 'httpx2', "
        "'importlib.metadata']; "
        "print(','.join(m for m in heavy if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == ""


def test_commands_that_read_a_current_store_load_no_sdk_client_or_migrations(
    tmp_path: Path,
) -> None:
    # Reading a store needs SQLAlchemy and nothing the workers alone use: no SDK, no HTTP client
    # (the webhook sink's), no spreadsheet reader, no tokenizer, and no Alembic once the store
    # is current (the first run makes it).
    probe = (
        "import sys; from halfrate.cli.app import main; main(sys.argv[1:]); "
        "heavy = ['alembic', 'openai', 'anthropic', 'httpx2', 'fastapi', 'openpyxl', "
        "'tiktoken', 'halfrate.sinks.sql', 'halfrate.sinks.webhook']; "
        "print('loaded:', ','.join(m for m in heavy if m in sys.modules), file=sys.stderr)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("HALFRATE_")}
    env["HALFRATE_HOME"] = str(tmp_path)
    loaded = []
    for argv in (["status"], ["status"], ["policy", "explain", "--model", "gpt-4o"]):
        ran = subprocess.run(
            [sys.executable, "-c", probe, *argv], capture_output=True, text=True, env=env
        )
        assert ran.returncode == 0, ran.stderr
        loaded.append(ran.stderr.strip().splitlines()[-1])
    assert loaded[1:] == ["loaded:", "loaded:"]


def test_the_report_groups_are_the_ledgers_own() -> None:
    assert set(REPORT_GROUPS) == set(GROUPS) - {"cache_kind"}
