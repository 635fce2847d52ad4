"""Sinks: where a job's results are written back, each an upsert by request key.

``parse_sink`` checks a spec string and makes it canonical; :func:`halfrate.sinks.opening.open_sink`
turns a spec into a :class:`Sink` whose ``deliver()`` reports each item delivered or failed
(never raising for a delivery that did not work). The package itself loads no sink: the store
and the command line read specs without loading an HTTP client or a database driver.
"""

from __future__ import annotations

from halfrate.errors import SinkUnavailable
from halfrate.sinks.base import DeliveryReport, Outgoing, Sink
from halfrate.sinks.spec import SINK_KINDS, SinkSpec, parse_sink

__all__ = [
    "SINK_KINDS",
    "DeliveryReport",
    "Outgoing",
    "Sink",
    "SinkSpec",
    "SinkUnavailable",
    "parse_sink",
]
