"""Settings: flag > environment (``HALFRATE_*``) > config file > default.

Nothing is read at import time; :func:`load_settings` reads the environment and the file when it is
called. The config file is ``$HALFRATE_CONFIG`` or ``$HALFRATE_HOME/config.toml`` (a ``[halfrate]``
table, or top-level keys), and is optional.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from halfrate.errors import ConfigError

DEFAULT_HOME = "~/.halfrate"


ENV_PREFIX = "HALFRATE_"


class Settings(BaseModel):
    """Every halfrate setting, with its environment variable ``HALFRATE_<NAME>``.

    A plain pydantic model: :func:`load_settings` gathers its values from the flags, the
    environment and the config file itself (pydantic-settings did that for 0.3 s of every
    command's start-up)."""

    # Its validators are built on first use: `halfrate --help` only lists the fields.
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    home: Path = Field(default=Path(DEFAULT_HOME), description="where halfrate keeps its state")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default sqlite:///$HALFRATE_HOME/halfrate.db "
        "(PostgreSQL: postgresql+psycopg://user@host/db)",
    )
    debug: bool = Field(default=False, description="show tracebacks on errors")
    openai_max_batch_lines: int = Field(
        default=50_000, ge=1, le=50_000, description="split OpenAI batches at this many lines"
    )
    openai_max_batch_bytes: int = Field(
        default=200_000_000, ge=1_000, le=200_000_000, description="and at this size"
    )
    max_request_bytes: int = Field(
        default=32_000_000,
        ge=1_000,
        le=200_000_000,
        description=(
            "the largest request halfrate accepts (one line, one row's body): far above any "
            "model's context; raise it for requests carrying large inline images"
        ),
    )
    anthropic_max_batch_lines: int = Field(
        default=100_000, ge=1, le=100_000, description="split Anthropic batches at this many"
    )
    anthropic_max_batch_bytes: int = Field(
        default=256_000_000, ge=1_000, le=256_000_000, description="and at this size"
    )
    poll_initial_seconds: float = Field(default=2.0, gt=0, description="first poll delay")
    poll_max_seconds: float = Field(default=300.0, gt=0, description="longest poll delay")
    worker_idle_seconds: float = Field(default=2.0, gt=0, description="longest worker sleep")
    max_attempts: int = Field(
        default=3, ge=1, le=100, description="tries per request that ran and failed transiently"
    )
    max_unrun_requeues: int = Field(
        default=10,
        ge=1,
        le=1000,
        description=(
            "times a request goes back to the queue without having run (its batch expired or "
            "was cancelled first, or its line never came back) before it fails"
        ),
    )
    retry_backoff_seconds: float = Field(default=30.0, ge=0, description="first retry delay")
    lease_seconds: float = Field(
        default=60.0,
        gt=0,
        description=(
            "how long a worker owns a batch step or a call without renewing it (a worker that "
            "dies frees its work after this long)"
        ),
    )
    create_settle_seconds: float = Field(
        default=10.0,
        ge=0,
        le=3600,
        description=(
            "after a batch create whose answer never came, how much longer than the provider "
            "timeout to wait for the batch to show in the provider's list before creating it "
            "again (a provider may still be handling a create its client gave up on)"
        ),
    )
    provider_timeout_seconds: float = Field(
        default=120.0,
        gt=0,
        description="how long a batch-side API call (upload, create, poll) may stay silent",
    )
    realtime_concurrency: int = Field(
        default=16, ge=1, le=1024, description="synchronous calls a worker makes at once"
    )
    realtime_max_retries: int = Field(
        default=4, ge=0, le=100, description="retries per call on 429, 5xx and timeouts"
    )
    realtime_max_wait_seconds: float = Field(
        default=60.0, ge=0, description="longest wait between tries (Retry-After included)"
    )
    realtime_backoff_seconds: float = Field(
        default=1.0, ge=0, description="first wait between tries when the provider names none"
    )
    realtime_timeout_seconds: float = Field(
        default=600.0, gt=0, description="how long one realtime call may take"
    )
    flex_timeout_seconds: float = Field(
        default=900.0, gt=0, description="how long one flex call may take (flex is slower)"
    )
    upload_max_mb: float = Field(
        default=50.0, gt=0, le=2048, description="the largest spreadsheet the web page accepts"
    )
    session_hours: float = Field(
        default=12.0, gt=0, le=24 * 30, description="how long a web sign-in lasts"
    )

    @property
    def resolved_home(self) -> Path:
        return self.home.expanduser()

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.resolved_home / 'halfrate.db'}"


def config_file_path() -> Path:
    explicit = os.environ.get("HALFRATE_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    home = os.environ.get("HALFRATE_HOME", DEFAULT_HOME)
    return Path(home).expanduser() / "config.toml"


def read_config_file(path: Path) -> dict[str, Any]:
    """The parsed TOML config file; empty when there is none. Unreadable: a ConfigError."""
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc}") from exc


def _from_file() -> dict[str, Any]:
    """The settings the optional TOML config file gives; an unreadable or invalid file, or an
    unknown setting in it, is a ConfigError."""
    path = config_file_path()
    data = read_config_file(path)
    # [prices] and [budgets] are read by ledger/ (user_prices.py, budgets.py).
    others = {k: v for k, v in data.items() if k not in ("prices", "budgets")}
    table = data.get("halfrate", others)
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [halfrate] must be a table")
    unknown = sorted(set(table) - set(Settings.model_fields))
    if unknown:
        raise ConfigError(f"{path}: unknown setting {unknown[0]!r}")
    return dict(table)


def _from_environment() -> dict[str, str]:
    """``HALFRATE_<NAME>`` variables of the known settings (names in any case, as before)."""
    wanted = {f"{ENV_PREFIX}{name}".upper(): name for name in Settings.model_fields}
    return {
        wanted[key.upper()]: value for key, value in os.environ.items() if key.upper() in wanted
    }


def load_settings(**overrides: Any) -> Settings:
    """Build the settings; ``overrides`` are command-line flags (None means "not given")."""
    given = {k: v for k, v in overrides.items() if v is not None}
    values = {**_from_file(), **_from_environment(), **given}
    try:
        return Settings(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "?"
        raise ConfigError(f"setting HALFRATE_{name.upper()}: {first['msg']}") from exc


def describe_settings() -> str:
    """One line per HALFRATE_* variable, for --help."""
    lines = []
    for name, field in Settings.model_fields.items():
        text = field.description or ""
        # A description that says its own default (a path made from another setting) keeps it.
        stated = "default" in text or field.default is None
        shown = text if stated else f"{text} (default: {field.default})"
        lines.append(f"HALFRATE_{name.upper()}  {shown}".replace("  (", " ("))
    lines.append("HALFRATE_CONFIG  config file (default: $HALFRATE_HOME/config.toml)")
    return "\n".join(lines)
