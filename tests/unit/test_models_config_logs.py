"""The state machine, settings precedence, and secret redaction."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest

from halfrate.config import FIELDS, Settings, load_settings
from halfrate.errors import ConfigError
from halfrate.logs import RedactingFilter, redact
from halfrate.models import (
    BATCH_TRANSITIONS,
    FINAL_REQUEST_STATES,
    REQUEST_TRANSITIONS,
    BatchState,
    RequestState,
    request_sources,
)


def test_final_states_are_final() -> None:
    for state in FINAL_REQUEST_STATES:
        assert REQUEST_TRANSITIONS[state] == frozenset()
    assert BATCH_TRANSITIONS[BatchState.INGESTED] == frozenset()
    assert set(REQUEST_TRANSITIONS) == set(RequestState)


def test_a_request_succeeds_from_a_batch_a_call_or_the_queue_by_a_shared_answer() -> None:
    # Straight from the queue: lane cache, answered by an identical request's answer.
    assert request_sources(RequestState.SUCCEEDED) == {
        RequestState.IN_BATCH,
        RequestState.IN_CALL,
        RequestState.QUEUED,
    }
    assert request_sources(RequestState.IN_BATCH) == {RequestState.QUEUED}
    assert request_sources(RequestState.IN_CALL) == {RequestState.QUEUED}


def test_settings_precedence_flag_env_file_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_env: Path
) -> None:
    assert load_settings().max_attempts == 3
    isolated_env.mkdir(parents=True)
    (isolated_env / "config.toml").write_text(
        "[halfrate]\nmax_attempts = 5\npoll_max_seconds = 9\n"
    )
    assert load_settings().max_attempts == 5
    monkeypatch.setenv("HALFRATE_MAX_ATTEMPTS", "7")
    assert load_settings().max_attempts == 7
    assert load_settings(max_attempts=9).max_attempts == 9
    assert load_settings().poll_max_seconds == 9


def test_invalid_settings_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, isolated_env: Path
) -> None:
    monkeypatch.setenv("HALFRATE_MAX_ATTEMPTS", "many")
    with pytest.raises(ConfigError, match="HALFRATE_MAX_ATTEMPTS"):
        load_settings()
    monkeypatch.delenv("HALFRATE_MAX_ATTEMPTS")
    isolated_env.mkdir(parents=True)
    (isolated_env / "config.toml").write_text("maximum_attempts = 1\n")
    with pytest.raises(ConfigError, match="unknown setting 'maximum_attempts'"):
        load_settings()
    (isolated_env / "config.toml").write_text("max_attempts = [\n")
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings()


def test_every_setting_has_one_field_with_its_default() -> None:
    fields = {f.name: f.default for f in dataclasses.fields(Settings)}
    assert fields == {name: field.default for name, field in FIELDS.items()}


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("HALFRATE_MAX_ATTEMPTS", "0", "must be at least 1 (got '0')"),
        ("HALFRATE_MAX_ATTEMPTS", "101", "must be at most 100"),
        ("HALFRATE_MAX_ATTEMPTS", "2.5", "must be a whole number"),
        ("HALFRATE_POLL_MAX_SECONDS", "0", "must be more than 0"),
        ("HALFRATE_POLL_MAX_SECONDS", "nan", "must be a finite number"),
        ("HALFRATE_POLL_MAX_SECONDS", "soon", "must be a number (got 'soon')"),
        ("HALFRATE_DEBUG", "maybe", "must be true or false"),
        ("HALFRATE_MAX_ATTEMPTS", "9" * 500, "must be at most 100 (got '99999"),
    ],
)
def test_a_bad_value_says_what_is_wanted(
    monkeypatch: pytest.MonkeyPatch, isolated_env: Path, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert f"setting {name}: {message}" in str(caught.value)
    assert len(str(caught.value)) < 200


def test_values_are_read_as_their_type(monkeypatch: pytest.MonkeyPatch, isolated_env: Path) -> None:
    monkeypatch.setenv("HALFRATE_DEBUG", "yes")
    monkeypatch.setenv("HALFRATE_MAX_ATTEMPTS", " 4 ")
    monkeypatch.setenv("HALFRATE_POLL_INITIAL_SECONDS", "0.2")
    settings = load_settings(home=Path("~/elsewhere"))
    assert settings.debug is True
    assert settings.max_attempts == 4
    assert settings.poll_initial_seconds == 0.2
    assert settings.home == Path("~/elsewhere")
    assert settings.database_url is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.debug = False  # type: ignore[misc]


def test_a_bad_value_in_the_config_file_names_the_file(isolated_env: Path) -> None:
    isolated_env.mkdir(parents=True)
    path = isolated_env / "config.toml"
    path.write_text("[halfrate]\nmax_attempts = 0\n")
    with pytest.raises(ConfigError, match=f"setting max_attempts in {path}: must be at least 1"):
        load_settings()
    path.write_text("[halfrate]\nhome = 5\nmax_attempts = true\n")
    with pytest.raises(ConfigError, match=r"setting home in .*: must be a non-empty text"):
        load_settings()
    path.write_text("[halfrate]\nmax_attempts = true\n")
    with pytest.raises(ConfigError, match=r"max_attempts in .*: must be a whole number"):
        load_settings()


def test_keys_are_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "plain-secret-value-123")
    assert "plain-secret-value-123" not in redact("key=plain-secret-value-123")
    assert "sk-proj-abcdefghijklmnop" not in redact("Bearer sk-proj-abcdefghijklmnop")
    record = logging.LogRecord(
        "x", logging.INFO, "f", 1, "using %s", ("sk-live-0123456789abcdef",), None
    )
    RedactingFilter().filter(record)
    assert "0123456789abcdef" not in record.getMessage()
