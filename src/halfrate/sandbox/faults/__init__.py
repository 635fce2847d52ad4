"""Fault injection: making the sandbox's calls, batches, lines, files and routes go wrong.

``spec`` defines the fault kinds and parses ``--faults`` specs into :class:`Faults`; ``dice``
rolls them, deterministically, for batches, lines, uploads and routes; ``answers`` is what a
fault looks like on the wire (each provider's answers are in its own package); ``gate`` is the
ASGI layer that answers the HTTP faults of the file and batch routes.
"""

from __future__ import annotations

from halfrate.sandbox.faults.spec import (
    FAULT_KINDS,
    FaultKind,
    Faults,
    describe,
    kinds_for,
    parse_faults,
)

__all__ = ["FAULT_KINDS", "FaultKind", "Faults", "describe", "kinds_for", "parse_faults"]
