"""Sinks: where a job's results are written back, each an upsert by request key.

``parse_sink`` checks a spec string and makes it canonical; ``open_sink`` turns a spec into a
:class:`Sink` whose ``deliver()`` reports each item delivered or failed (never raising for a
delivery that did not work).
"""

from __future__ import annotations

from halfrate.errors import SinkUnavailable
from halfrate.sinks.base import DeliveryReport, Outgoing, Sink
from halfrate.sinks.opening import open_sink
from halfrate.sinks.spec import SINK_KINDS, SinkSpec, parse_sink

__all__ = [
    "SINK_KINDS",
    "DeliveryReport",
    "Outgoing",
    "Sink",
    "SinkSpec",
    "SinkUnavailable",
    "open_sink",
    "parse_sink",
]
