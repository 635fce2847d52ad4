"""Sink specs: the one-line strings people write to say where results go, checked and made
canonical before anything is stored (:mod:`halfrate.sinks.opening` turns one into a working
sink when a worker needs it).

Forms::

    jsonl:PATH   csv:PATH   PATH.jsonl   PATH.csv          a file (path made absolute here)
    https://host/path   http://…   webhook:URL            one POST per result
    sql:URL#TABLE   sql:env:NAME#TABLE                      upsert into a table by key
    callback:NAME                                           a function registered in the process

A database URL with a password is refused: the spec is stored in plain text, so the URL goes in
an environment variable and the spec names the variable (``sql:env:NAME#TABLE``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from halfrate.errors import InputError, SinkUnavailable

__all__ = ["SINK_KINDS", "SinkSpec", "SinkUnavailable", "parse_sink"]

SINK_KINDS = ("jsonl", "csv", "sql", "webhook", "callback")
MAX_SPEC_CHARS = 4096  # PATH_MAX on Linux; anything longer is a paste gone wrong
_SHOWN_CHARS = 80  # how much of a bad spec an error message repeats

FORMS = "jsonl:PATH, csv:PATH, sql:URL#TABLE, sql:env:NAME#TABLE, https://URL or callback:NAME"

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]{0,62}"  # 63: PostgreSQL's identifier limit
_TABLE = re.compile(rf"{_IDENTIFIER}(?:\.{_IDENTIFIER})?")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,199}")
_CALLBACK_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]{0,199}")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]+")
_DATABASE_SCHEMES = {"postgres", "postgresql", "sqlite", "mysql", "mariadb", "mssql", "oracle"}
_PASSWORD_PARAMS = {"password", "passwd", "pwd"}
# Greedy to the last "@": an unencoded "/" or "@" in a password must not leave part of it shown.
_USERINFO_PASSWORD = re.compile(r"(://[^/?#@\s:]*:)\S*@")
_QUERY = re.compile(r"\?[^#\s]*")
_SECRET_HINT = (
    "halfrate stores sink specs in plain text and never stores secrets that way: put the URL "
    "in an environment variable and use sql:env:NAME#{table}"
)


@dataclass(frozen=True)
class SinkSpec:
    """A checked sink spec. ``text`` is the canonical form to store; ``parse_sink(text)`` gives
    the same spec back. ``target`` is the absolute path, the URL (or ``env:NAME``), or the
    callback name; ``table`` is the SQL table (``schema.table`` allowed), None for other kinds."""

    kind: str
    target: str
    text: str
    table: str | None = None

    def display(self) -> str:
        """The spec, safe to print and log. A parsed spec holds no password (refused), but a
        webhook's query string may hold the service's token, so it is hidden."""
        return _QUERY.sub("?…", self.text) if self.kind == "webhook" else self.text


def mask(text: str) -> str:
    """``text`` (a spec that may not parse) with anything like a URL password or a query string
    replaced; errs on hiding too much."""
    return _QUERY.sub("?…", _USERINFO_PASSWORD.sub(r"\1***@", text))


def _short(text: str) -> str:
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"


def _problem(spec: str, message: str) -> InputError:
    return InputError(message, source=f"sink {_short(mask(spec))!r}")


def parse_sink(text: str | os.PathLike[str]) -> SinkSpec:
    """Check a sink spec and make it canonical. Raises :class:`InputError` with one line naming
    the spec and what is wrong with it."""
    raw = os.fspath(text) if isinstance(text, os.PathLike) else text
    if not isinstance(raw, str):
        raise InputError(f"a sink spec must be text, not {type(raw).__name__}")
    spec = raw.strip()
    if not spec:
        raise InputError(f"the sink spec is empty: use {FORMS}")
    if len(spec) > MAX_SPEC_CHARS:
        raise _problem(
            spec, f"the spec is {len(spec)} characters long; the limit is {MAX_SPEC_CHARS}"
        )
    try:
        spec.encode("utf-8")
    except UnicodeEncodeError as exc:  # lone surrogates: what a bad byte decodes to
        raise _problem(spec, f"the spec is not valid text (position {exc.start})") from None
    control = _CONTROL.search(spec)
    if control:
        char = "NUL" if control.group() == "\x00" else repr(control.group())
        raise _problem(
            spec, f"the spec contains a control character ({char} at position {control.start()})"
        )

    head, sep, rest = spec.partition(":")
    kind = head.lower() if sep else ""
    if kind in ("jsonl", "csv"):
        return _file_spec(spec, kind, rest)
    if kind == "sql":
        return _sql_spec(spec, rest)
    if kind == "webhook":
        return _webhook_spec(spec, rest)
    if kind in ("http", "https"):
        return _webhook_spec(spec, spec)
    if kind == "callback":
        return _callback_spec(spec, rest)
    lowered = spec.lower()
    if lowered.endswith(".jsonl"):
        return _file_spec(spec, "jsonl", spec)
    if lowered.endswith(".csv"):
        return _file_spec(spec, "csv", spec)
    if kind.split("+")[0] in _DATABASE_SCHEMES:
        raise _problem(spec, "a database URL needs the sql: prefix and a table: sql:URL#TABLE")
    if sep and _SCHEME.fullmatch(head):  # one letter before ":" would be a Windows drive
        raise _problem(spec, f"unknown sink kind {_short(head)!r}: use {FORMS}")
    raise _problem(spec, f"a file sink's path must end in .jsonl or .csv; otherwise use {FORMS}")


def _file_spec(spec: str, kind: str, path_text: str) -> SinkSpec:
    if not path_text:
        raise _problem(spec, f"the file path is missing: use {kind}:PATH")
    if path_text.endswith(("/", os.sep)):
        raise _problem(spec, f"{_short(path_text)} is a directory, not a file")
    try:
        # abspath, not resolve(): a symlinked folder the user named stays the one they named.
        path = Path(os.path.abspath(Path(path_text).expanduser()))
        if path.is_dir():
            raise _problem(spec, f"{_short(str(path))} is a directory, not a file")
        if path.exists() and not path.is_file():
            raise _problem(spec, f"{_short(str(path))} is not a regular file")
    except (OSError, RuntimeError) as exc:  # name too long, no home directory for "~"
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise _problem(spec, f"cannot use this path: {reason}") from exc
    return SinkSpec(kind=kind, target=str(path), text=f"{kind}:{path}")


def _webhook_spec(spec: str, url_text: str) -> SinkSpec:
    if url_text.startswith("env:"):
        name = url_text.removeprefix("env:")
        if not _ENV_NAME.fullmatch(name):
            raise _problem(
                spec, "webhook:env: needs an environment variable name, like CRM_HOOK_URL"
            )
        return SinkSpec(kind="webhook", target=f"env:{name}", text=f"webhook:env:{name}")
    url = checked_webhook_url(url_text, lambda message: _problem(spec, message))
    if urlsplit(url).query:
        raise _problem(
            spec,
            "the URL has a query string, where webhook services put their tokens, and sink "
            "specs are stored in plain text: put the URL in an environment variable and give "
            "webhook:env:NAME",
        )
    return SinkSpec(kind="webhook", target=url, text=f"webhook:{url}")


def checked_webhook_url(url_text: str, problem: Callable[[str], Exception]) -> str:
    """A webhook URL checked and made canonical (the fragment dropped). Raises
    ``problem(message)``; a message never repeats the query (it may hold a token)."""
    if not url_text:
        raise problem("the URL is missing: use webhook:https://host/path")
    if any(c.isspace() for c in url_text):
        raise problem("a URL cannot contain spaces")
    try:
        parts = urlsplit(url_text)
        port = parts.port  # parsed lazily: a bad port raises only here
    except ValueError as exc:
        # Not repeating the parser's words: they can quote part of a password.
        what = "its port must be a number up to 65535" if "Port" in str(exc) else "a bad host"
        raise problem(f"the webhook URL is not valid ({what})") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise problem("a webhook URL must start with http:// or https://")
    if not parts.hostname:
        raise problem("the webhook URL has no host")
    if port == 0:
        raise problem("the webhook URL's port cannot be 0")
    if parts.password is not None:
        raise problem(
            "the URL contains a password; halfrate stores sink specs in plain text and never "
            "stores secrets that way (sign deliveries with HALFRATE_WEBHOOK_SECRET instead)",
        )
    # The fragment never reaches the server, so it is not part of the sink.
    return urlunsplit((scheme, parts.netloc, parts.path or "/", parts.query, ""))


def _callback_spec(spec: str, name: str) -> SinkSpec:
    if not _CALLBACK_NAME.fullmatch(name):
        raise _problem(
            spec, "a callback name is letters, digits, _, . or - (like callback:update_crm)"
        )
    return SinkSpec(kind="callback", target=name, text=f"callback:{name}")


def _sql_spec(spec: str, rest: str) -> SinkSpec:
    url_text, sep, table = rest.rpartition("#")
    if not sep or not table:
        raise _problem(spec, "the table is missing: use sql:URL#TABLE or sql:env:NAME#TABLE")
    if not url_text:
        raise _problem(spec, "the database URL is missing: use sql:URL#TABLE")
    if not _TABLE.fullmatch(table):
        raise _problem(
            spec,
            f"table {_short(table)!r} is not a plain name: letters, digits and _, at most 63, "
            "optionally schema.table",
        )
    if url_text.startswith("env:"):
        name = url_text.removeprefix("env:")
        if not _ENV_NAME.fullmatch(name):
            raise _problem(spec, "sql:env: needs an environment variable name, like DATABASE_URL")
        return SinkSpec(
            kind="sql", target=f"env:{name}", text=f"sql:env:{name}#{table}", table=table
        )
    url = _database_url(url_text, lambda message: _problem(spec, message), table)
    rendered = url.render_as_string(hide_password=False)
    return SinkSpec(kind="sql", target=rendered, text=f"sql:{rendered}#{table}", table=table)


def _database_url(url_text: str, problem: Callable[[str], Exception], table: str) -> sa.URL:
    """A checked SQLAlchemy URL: parseable, no password, a known database with its driver
    installed, SQLite on a file given by absolute path. Raises ``problem(message)``."""
    try:
        url = make_url(url_text)
    except (sa.exc.ArgumentError, ValueError) as exc:
        raise problem(
            "the database URL is not a SQLAlchemy URL like postgresql+psycopg://user@host/db "
            "or sqlite:///path.db"
        ) from exc
    if url.password is not None or _PASSWORD_PARAMS & {k.lower() for k in url.query}:
        raise problem("the URL contains a password; " + _SECRET_HINT.format(table=table))
    try:
        dialect = url.get_dialect()
    except sa.exc.NoSuchModuleError as exc:
        raise problem(
            f"unknown database {url.drivername!r}: use postgresql+psycopg://… or sqlite:///…"
        ) from exc
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        raise problem(f"the database driver for {url.drivername!r} is not installed") from exc
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database in ("", ":memory:") or url.query.get("mode") == "memory":
            raise problem(
                "an in-memory SQLite database would lose every result: use sqlite:///FILE"
            )
        if not database.startswith("file:"):
            try:
                path = Path(os.path.abspath(Path(database).expanduser()))
                is_folder = path.is_dir()
            except (OSError, RuntimeError) as exc:  # name too long, no home directory for "~"
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                raise problem(f"cannot use the database file path: {reason}") from exc
            if is_folder:
                raise problem(f"{_short(str(path))} is a directory, not a database file")
            url = url.set(database=str(path))
    return url


def resolve_database_url(spec: SinkSpec) -> sa.URL:
    """The URL of a SQL sink, read from its environment variable (at open time) if it names one.
    Raises :class:`SinkUnavailable` when the variable is unset or invalid here: another worker,
    or this one restarted with the variable fixed, can still deliver."""
    if not spec.target.startswith("env:"):
        return make_url(spec.target)
    name = spec.target.removeprefix("env:")
    value = os.environ.get(name, "").strip()
    if not value:
        raise SinkUnavailable(f"sink {spec.display()}: environment variable {name} is not set")

    # Never repeat the variable's value in a message: it holds the password.
    where = f"sink {spec.display()}: the URL in {name}"
    try:
        url = make_url(value)
        url.get_dialect().import_dbapi()
    except (sa.exc.ArgumentError, ValueError) as exc:
        raise SinkUnavailable(f"{where} is not a database URL") from exc
    except sa.exc.NoSuchModuleError as exc:
        raise SinkUnavailable(f"{where} names an unknown database") from exc
    except ImportError as exc:
        raise SinkUnavailable(f"{where} needs a database driver that is not installed") from exc
    return url


def resolve_webhook_url(spec: SinkSpec) -> str:
    """The URL of a webhook sink, read from its environment variable (when the sink is opened)
    if it names one. Raises :class:`SinkUnavailable` when the variable is unset or invalid here:
    another worker, or this one restarted with it set, can still deliver."""
    if not spec.target.startswith("env:"):
        return spec.target
    name = spec.target.removeprefix("env:")
    value = os.environ.get(name, "").strip()
    if not value:
        raise SinkUnavailable(f"sink {spec.display()}: environment variable {name} is not set")
    # Never repeat the variable's value in a message: its query may hold a token.
    return checked_webhook_url(
        value,
        lambda message: SinkUnavailable(f"sink {spec.display()}: the URL in {name}: {message}"),
    )
