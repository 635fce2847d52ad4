"""Turning a checked sink spec into a working sink, when a worker needs one.

The SQL and webhook sinks load with the first sink of their kind: they bring SQLAlchemy's
dialects and an HTTP client, which a command that only reads the store (`halfrate status`, the
results of a job) should not pay for at start (docs/architecture.md, "What a command loads").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from halfrate.errors import InputError, SinkUnavailable
from halfrate.models import Result
from halfrate.sinks.base import Sink
from halfrate.sinks.callback import CallbackSink
from halfrate.sinks.files import FileSink
from halfrate.sinks.spec import FORMS, SinkSpec, resolve_database_url


def open_sink(
    spec: SinkSpec, callbacks: Mapping[str, Callable[[Result], None]] | None = None
) -> Sink:
    """A working sink for ``spec``. Opening touches no file, database or server: what cannot be
    reached shows up as failed items in ``deliver()``. Raises :class:`SinkUnavailable` when this
    process cannot serve the sink (callback not registered here, URL variable not set)."""
    if spec.kind in ("jsonl", "csv"):
        return FileSink(spec)
    if spec.kind == "sql":
        from halfrate.sinks.sql import SqlSink

        return SqlSink(spec, resolve_database_url(spec))
    if spec.kind == "webhook":
        from halfrate.sinks.webhook import WebhookSink

        return WebhookSink(spec)
    if spec.kind == "callback":
        function = (callbacks or {}).get(spec.target)
        if function is None:
            raise SinkUnavailable(f"callback {spec.target!r} is not registered in this process")
        return CallbackSink(spec, function)
    raise InputError(f"unknown sink kind {spec.kind!r}: use {FORMS}")
