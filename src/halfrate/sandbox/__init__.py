"""The sandbox: a local, faithful implementation of OpenAI's Files, Batch and inference APIs.

The official ``openai`` SDK works against it unchanged, in-process (:class:`InProcessTransport`)
or over loopback (:class:`SandboxServer`, :func:`serve`). Answers are simulated and deterministic;
token counts are real (tiktoken). Nothing starts at import time.
"""

from __future__ import annotations

from halfrate.sandbox.app import create_app
from halfrate.sandbox.client import openai_client
from halfrate.sandbox.server import SandboxServer, serve
from halfrate.sandbox.transport import InProcessTransport

__all__ = ["InProcessTransport", "SandboxServer", "create_app", "openai_client", "serve"]
