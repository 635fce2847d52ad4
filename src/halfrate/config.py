"""Settings: flag > environment (``HALFRATE_*``) > config file > default.

Nothing is read at import time; :func:`load_settings` reads the environment and the file when it is
called. The config file is ``$HALFRATE_CONFIG`` or ``$HALFRATE_HOME/config.toml`` (a ``[halfrate]``
table, or top-level keys), and is optional.
"""

from __future__ import annotations

import math
import operator
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from halfrate.errors import ConfigError

DEFAULT_HOME = "~/.halfrate"


ENV_PREFIX = "HALFRATE_"


@dataclass(frozen=True, slots=True)
class Field:
    """One setting: its type, default, bounds and what it does (shown by ``--help``)."""

    kind: type  # Path, str, bool, int or float
    default: Any
    description: str
    optional: bool = False  # None is a value (the setting is unset)
    ge: float | None = None  # at least
    gt: float | None = None  # more than
    le: float | None = None  # at most


# Every halfrate setting, with its environment variable ``HALFRATE_<NAME>``.
FIELDS: dict[str, Field] = {
    "home": Field(Path, Path(DEFAULT_HOME), "where halfrate keeps its state"),
    "database_url": Field(
        str,
        None,
        "SQLAlchemy URL; default sqlite:///$HALFRATE_HOME/halfrate.db "
        "(PostgreSQL: postgresql+psycopg://user@host/db)",
        optional=True,
    ),
    "debug": Field(bool, False, "show tracebacks on errors"),
    "openai_max_batch_lines": Field(
        int, 50_000, "split OpenAI batches at this many lines", ge=1, le=50_000
    ),
    "openai_max_batch_bytes": Field(int, 200_000_000, "and at this size", ge=1_000, le=200_000_000),
    "max_request_bytes": Field(
        int,
        32_000_000,
        "the largest request halfrate accepts (one line, one row's body): far above any "
        "model's context; raise it for requests carrying large inline images",
        ge=1_000,
        le=200_000_000,
    ),
    "anthropic_max_batch_lines": Field(
        int, 100_000, "split Anthropic batches at this many", ge=1, le=100_000
    ),
    "anthropic_max_batch_bytes": Field(
        int, 256_000_000, "and at this size", ge=1_000, le=256_000_000
    ),
    "poll_initial_seconds": Field(float, 2.0, "first poll delay", gt=0),
    "poll_max_seconds": Field(float, 300.0, "longest poll delay", gt=0),
    "worker_idle_seconds": Field(float, 2.0, "longest worker sleep", gt=0),
    "max_attempts": Field(
        int, 3, "tries per request that ran and failed transiently", ge=1, le=100
    ),
    "max_unrun_requeues": Field(
        int,
        10,
        "times a request goes back to the queue without having run (its batch expired or "
        "was cancelled first, or its line never came back) before it fails",
        ge=1,
        le=1000,
    ),
    "retry_backoff_seconds": Field(float, 30.0, "first retry delay", ge=0),
    "lease_seconds": Field(
        float,
        60.0,
        "how long a worker owns a batch step or a call without renewing it (a worker that "
        "dies frees its work after this long)",
        gt=0,
    ),
    "create_settle_seconds": Field(
        float,
        10.0,
        "after a batch create whose answer never came, how much longer than the provider "
        "timeout to wait for the batch to show in the provider's list before creating it "
        "again (a provider may still be handling a create its client gave up on)",
        ge=0,
        le=3600,
    ),
    "provider_timeout_seconds": Field(
        float, 120.0, "how long a batch-side API call (upload, create, poll) may stay silent", gt=0
    ),
    "realtime_concurrency": Field(
        int, 16, "synchronous calls a worker makes at once", ge=1, le=1024
    ),
    "realtime_max_retries": Field(
        int, 4, "retries per call on 429, 5xx and timeouts", ge=0, le=100
    ),
    "realtime_max_wait_seconds": Field(
        float, 60.0, "longest wait between tries (Retry-After included)", ge=0
    ),
    "realtime_backoff_seconds": Field(
        float, 1.0, "first wait between tries when the provider names none", ge=0
    ),
    "realtime_timeout_seconds": Field(float, 600.0, "how long one realtime call may take", gt=0),
    "flex_timeout_seconds": Field(
        float, 900.0, "how long one flex call may take (flex is slower)", gt=0
    ),
    "upload_max_mb": Field(
        float, 50.0, "the largest spreadsheet the web page accepts", gt=0, le=2048
    ),
    "session_hours": Field(float, 12.0, "how long a web sign-in lasts", gt=0, le=24 * 30),
}


@dataclass(frozen=True, slots=True)
class Settings:
    """Every halfrate setting (see :data:`FIELDS`), checked by :func:`load_settings`.

    A plain dataclass that halfrate fills and checks itself: pydantic cost a tenth of a second
    of every command's start-up."""

    home: Path = FIELDS["home"].default
    database_url: str | None = None
    debug: bool = False
    openai_max_batch_lines: int = FIELDS["openai_max_batch_lines"].default
    openai_max_batch_bytes: int = FIELDS["openai_max_batch_bytes"].default
    max_request_bytes: int = FIELDS["max_request_bytes"].default
    anthropic_max_batch_lines: int = FIELDS["anthropic_max_batch_lines"].default
    anthropic_max_batch_bytes: int = FIELDS["anthropic_max_batch_bytes"].default
    poll_initial_seconds: float = FIELDS["poll_initial_seconds"].default
    poll_max_seconds: float = FIELDS["poll_max_seconds"].default
    worker_idle_seconds: float = FIELDS["worker_idle_seconds"].default
    max_attempts: int = FIELDS["max_attempts"].default
    max_unrun_requeues: int = FIELDS["max_unrun_requeues"].default
    retry_backoff_seconds: float = FIELDS["retry_backoff_seconds"].default
    lease_seconds: float = FIELDS["lease_seconds"].default
    create_settle_seconds: float = FIELDS["create_settle_seconds"].default
    provider_timeout_seconds: float = FIELDS["provider_timeout_seconds"].default
    realtime_concurrency: int = FIELDS["realtime_concurrency"].default
    realtime_max_retries: int = FIELDS["realtime_max_retries"].default
    realtime_max_wait_seconds: float = FIELDS["realtime_max_wait_seconds"].default
    realtime_backoff_seconds: float = FIELDS["realtime_backoff_seconds"].default
    realtime_timeout_seconds: float = FIELDS["realtime_timeout_seconds"].default
    flex_timeout_seconds: float = FIELDS["flex_timeout_seconds"].default
    upload_max_mb: float = FIELDS["upload_max_mb"].default
    session_hours: float = FIELDS["session_hours"].default

    @property
    def resolved_home(self) -> Path:
        return self.home.expanduser()

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.resolved_home / 'halfrate.db'}"


_TRUE = frozenset({"1", "true", "yes", "on", "y", "t"})
_FALSE = frozenset({"0", "false", "no", "off", "n", "f", ""})


def _checked(name: str, value: Any, where: str) -> Any:
    """``value`` of setting ``name`` as its type, within its bounds; ``where`` names where it
    came from in the message of a ConfigError."""
    field = FIELDS[name]
    if value is None and field.optional:
        return None
    kind = field.kind
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if isinstance(value, (str, int)) and (text in _TRUE or text in _FALSE):
                return text in _TRUE
            raise ValueError("must be true or false")
        if kind is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError("must be a whole number")
            number: float = int(value.strip() if isinstance(value, str) else value)
        elif kind is float:
            if isinstance(value, bool):
                raise ValueError("must be a number")
            number = float(value.strip() if isinstance(value, str) else value)
            if not math.isfinite(number):
                raise ValueError("must be a finite number")
        else:
            if not isinstance(value, (str, Path)) or not str(value):
                raise ValueError("must be a non-empty text")
            return kind(value)
    except ValueError as exc:
        reason = str(exc) if str(exc).startswith("must") else _kind_wanted(kind)
        raise ConfigError(f"setting {where}: {reason} (got {_shown(value)})") from None
    except TypeError:
        raise ConfigError(f"setting {where}: {_kind_wanted(kind)} (got {_shown(value)})") from None
    for words, bound, fails in (
        ("at least", field.ge, operator.lt),
        ("more than", field.gt, operator.le),
        ("at most", field.le, operator.gt),
    ):
        if bound is not None and fails(number, bound):
            limit = int(bound) if float(bound).is_integer() else bound
            raise ConfigError(f"setting {where}: must be {words} {limit} (got {_shown(value)})")
    return number


def _kind_wanted(kind: type) -> str:
    return "must be a whole number" if kind is int else "must be a number"


def _shown(value: Any) -> str:
    """A bad value as a message shows it: short, on one line."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


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
    unknown = sorted(set(table) - set(FIELDS))
    if unknown:
        raise ConfigError(f"{path}: unknown setting {unknown[0]!r}")
    return dict(table)


def _from_environment() -> dict[str, str]:
    """``HALFRATE_<NAME>`` variables of the known settings (names in any case, as before)."""
    wanted = {f"{ENV_PREFIX}{name}".upper(): name for name in FIELDS}
    return {
        wanted[key.upper()]: value for key, value in os.environ.items() if key.upper() in wanted
    }


def load_settings(**overrides: Any) -> Settings:
    """Build the settings; ``overrides`` are command-line flags (None means "not given").
    A bad value is a ConfigError naming where it came from: the flag's setting, the
    environment variable or the config file."""
    given = {k: v for k, v in overrides.items() if v is not None}
    unknown = sorted(set(given) - set(FIELDS))
    if unknown:
        raise ConfigError(f"unknown setting {unknown[0]!r}")
    path = config_file_path()
    sources: tuple[tuple[dict[str, Any], bool], ...] = (
        (_from_file(), True),
        (_from_environment(), False),
        (given, False),
    )
    values: dict[str, Any] = {}
    for found, in_file in sources:
        for name, value in found.items():
            where = f"{name} in {path}" if in_file else f"{ENV_PREFIX}{name.upper()}"
            values[name] = _checked(name, value, where)
    return Settings(**values)


def describe_settings() -> str:
    """One line per HALFRATE_* variable, for --help."""
    lines = []
    for name, field in FIELDS.items():
        text = field.description
        # A description that says its own default (a path made from another setting) keeps it.
        stated = "default" in text or field.default is None
        shown = text if stated else f"{text} (default: {field.default})"
        lines.append(f"HALFRATE_{name.upper()}  {shown}".replace("  (", " ("))
    lines.append("HALFRATE_CONFIG  config file (default: $HALFRATE_HOME/config.toml)")
    return "\n".join(lines)
