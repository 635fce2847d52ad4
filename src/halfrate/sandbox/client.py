"""OpenAI and Anthropic SDK clients bound to a sandbox, in-process or over loopback."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx2
from starlette.types import ASGIApp

from halfrate.sandbox.server import SandboxServer
from halfrate.sandbox.transport import InProcessTransport

if TYPE_CHECKING:
    import anthropic
    import openai

IN_PROCESS_ROOT_URL = "http://sandbox.local"
IN_PROCESS_BASE_URL = f"{IN_PROCESS_ROOT_URL}/v1"


def openai_client(
    app_or_server: ASGIApp | SandboxServer, api_key: str = "sandbox"
) -> openai.OpenAI:
    """An ``openai.OpenAI`` talking to ``app_or_server``.

    A :class:`SandboxServer` is reached over HTTP at its ``base_url``; an app (from
    ``create_app``) is reached in-process through :class:`InProcessTransport`. Closing the
    client also stops the in-process transport's event loop thread.
    """
    import openai  # the SDK takes a while to import; `halfrate sandbox` alone does not need it

    if isinstance(app_or_server, SandboxServer):
        return openai.OpenAI(api_key=api_key, base_url=app_or_server.base_url)
    http_client = httpx2.Client(
        transport=InProcessTransport(app_or_server), base_url=IN_PROCESS_BASE_URL
    )
    return openai.OpenAI(api_key=api_key, base_url=IN_PROCESS_BASE_URL, http_client=http_client)


def anthropic_client(
    app_or_server: ASGIApp | SandboxServer, api_key: str = "sandbox"
) -> anthropic.Anthropic:
    """An ``anthropic.Anthropic`` talking to ``app_or_server``, like :func:`openai_client`.

    Anthropic's base URL is the sandbox root (its paths include ``/v1``): a server's
    ``root_url``, or ``http://sandbox.local`` in-process. The SDK sends the key as a bearer
    token and ``anthropic-version: 2026-10-21``; the sandbox takes both.
    """
    import anthropic

    if isinstance(app_or_server, SandboxServer):
        return anthropic.Anthropic(api_key=api_key, base_url=app_or_server.root_url)
    http_client = httpx2.Client(
        transport=InProcessTransport(app_or_server), base_url=IN_PROCESS_ROOT_URL
    )
    return anthropic.Anthropic(
        api_key=api_key, base_url=IN_PROCESS_ROOT_URL, http_client=http_client
    )
