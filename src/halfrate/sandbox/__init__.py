"""The sandbox: a local, faithful implementation of the providers' HTTP APIs.

OpenAI's Files, Batch and inference APIs and Anthropic's Messages and Message Batches APIs, on
one server. The official ``openai`` and ``anthropic`` SDKs work against it unchanged, in-process
(:class:`InProcessTransport`) or over loopback (:class:`SandboxServer`, :func:`serve`). Answers
are simulated and deterministic; OpenAI token counts are real (tiktoken), Claude's a labelled
approximation. Faults can be injected (:func:`parse_faults`) into synchronous calls, batch lines,
whole batches, uploads and the file and batch routes, and every answer is recorded in a billing
ledger (``app.state.sandbox.ledger``, ``GET /_sandbox/ledger``). Nothing starts at import time.

Layout: ``openai/`` and ``anthropic/`` hold each provider's side (wire format, checks, simulated
answers, streams, batches, routes), ``faults/`` the fault injection, ``common/`` what both sides
share (JSON helpers, responses, server-sent events, simulated text, batch ordering, the
ledger). Here at the top: the app that joins them (``app``, ``middleware``, ``state``), the
models list both providers answer on one path (``models_routes``), and the ways to reach it
(``server``, ``client``, ``transport``). ``simulate`` and ``wire`` only re-export names from
``openai/`` for older imports.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from halfrate.sandbox.app import create_app
    from halfrate.sandbox.client import anthropic_client, openai_client
    from halfrate.sandbox.faults import Faults, parse_faults
    from halfrate.sandbox.faults import describe as describe_faults
    from halfrate.sandbox.server import SandboxServer, serve
    from halfrate.sandbox.transport import InProcessTransport

# Each name loads with its module on first use: the command line lists the sandbox's faults
# in its help without loading the web framework the sandbox serves with.
_WHERE: dict[str, tuple[str, str]] = {
    "Faults": ("halfrate.sandbox.faults", "Faults"),
    "InProcessTransport": ("halfrate.sandbox.transport", "InProcessTransport"),
    "SandboxServer": ("halfrate.sandbox.server", "SandboxServer"),
    "anthropic_client": ("halfrate.sandbox.client", "anthropic_client"),
    "create_app": ("halfrate.sandbox.app", "create_app"),
    "describe_faults": ("halfrate.sandbox.faults", "describe"),
    "openai_client": ("halfrate.sandbox.client", "openai_client"),
    "parse_faults": ("halfrate.sandbox.faults", "parse_faults"),
    "serve": ("halfrate.sandbox.server", "serve"),
}


def __getattr__(name: str) -> Any:
    found = _WHERE.get(name)
    if found is None:
        raise AttributeError(f"module 'halfrate.sandbox' has no attribute {name!r}")
    value = getattr(importlib.import_module(found[0]), found[1])
    globals()[name] = value  # once loaded, a plain module attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))


__all__ = [
    "Faults",
    "InProcessTransport",
    "SandboxServer",
    "anthropic_client",
    "create_app",
    "describe_faults",
    "openai_client",
    "parse_faults",
    "serve",
]
