"""The providers a process talks to: SDK clients given by the caller, or made from the SDKs' own
environment variables (``OPENAI_API_KEY``/``OPENAI_BASE_URL``, ``ANTHROPIC_API_KEY``/
``ANTHROPIC_BASE_URL``). A provider without a key is simply absent; work waiting for it is
refused with a clear message when a worker starts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from halfrate.config import Settings
from halfrate.errors import ProviderAuthError
from halfrate.providers.base import BatchProvider, Limits
from halfrate.providers.sync import SyncCaller

if TYPE_CHECKING:
    import anthropic
    import openai

NO_KEYS = (
    "OPENAI_API_KEY is not set, and neither is ANTHROPIC_API_KEY (for the local sandbox: start "
    "`halfrate sandbox` and set OPENAI_BASE_URL=http://127.0.0.1:8787/v1 OPENAI_API_KEY=sandbox, "
    "ANTHROPIC_BASE_URL=http://127.0.0.1:8787 ANTHROPIC_API_KEY=sandbox), and no key is saved "
    "on the web page's Keys page"
)


@dataclass
class Providers:
    batch: dict[str, BatchProvider] = field(default_factory=dict)
    calls: dict[str, SyncCaller] = field(default_factory=dict)
    owned: list[BatchProvider] = field(default_factory=list)  # made here: close them after

    def close(self) -> None:
        for provider in self.owned:
            provider.close()
        self.owned.clear()


KEY_VARIABLES = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN")


def check_keys() -> None:
    """Refuse a key that cannot be sent as it is, naming the variable, never the key: a key
    read from a file often keeps its line break, which the HTTP client then refuses in a
    message that shows the key and reads like a network failure."""
    for name in KEY_VARIABLES:
        value = os.environ.get(name)
        if not value:
            continue
        if value != value.strip():
            raise ProviderAuthError(
                f"{name} is malformed: it begins or ends with a space or a line break "
                "(remove them; halfrate never shows the key)"
            )
        if any(not (" " < char < "\x7f") for char in value):
            raise ProviderAuthError(
                f"{name} is malformed: it holds a space, a line break or a character outside "
                "ASCII, which no key has (halfrate never shows the key)"
            )


def _key(stored: Mapping[str, str], provider: str) -> dict[str, str]:
    """The SDK's ``api_key`` argument when a key is stored for ``provider``."""
    return {"api_key": stored[provider]} if provider in stored else {}


def _has_anthropic_key() -> bool:
    return bool(os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_AUTH_TOKEN"))


def build_providers(
    settings: Settings,
    *,
    openai_client: openai.OpenAI | None = None,
    anthropic_client: anthropic.Anthropic | None = None,
    keys: Mapping[str, str] | None = None,
) -> Providers:
    """Batch providers and synchronous callers for every provider with a client or a key.

    ``keys``: keys by provider saved on the web page's Keys page; each is used in place of the
    provider's environment variable (the base URL still comes from the environment).

    The SDKs are imported here, not at import time: they take most of a second to load and only
    workers and callers need them.
    """
    check_keys()
    stored = dict(keys or {})
    made = Providers()
    use_openai = (
        openai_client is not None or "openai" in stored or bool(os.environ.get("OPENAI_API_KEY"))
    )
    use_anthropic = anthropic_client is not None or "anthropic" in stored or _has_anthropic_key()
    if not use_openai and not use_anthropic:
        raise ProviderAuthError(NO_KEYS)
    if use_openai:
        from halfrate.providers.openai import OpenAIBatchProvider, client_from_env
        from halfrate.providers.openai_calls import OpenAICaller

        client = (
            openai_client
            if openai_client is not None
            else client_from_env(
                timeout=settings.provider_timeout_seconds, **_key(stored, "openai")
            )
        )
        limits = Limits(settings.openai_max_batch_lines, settings.openai_max_batch_bytes)
        provider = OpenAIBatchProvider(client, limits)
        made.batch["openai"] = provider
        made.calls["openai"] = OpenAICaller(
            client,
            timeout=settings.realtime_timeout_seconds,
            flex_timeout=settings.flex_timeout_seconds,
        )
        if openai_client is None:
            made.owned.append(provider)
    if use_anthropic:
        from halfrate.providers.anthropic import AnthropicBatchProvider
        from halfrate.providers.anthropic import client_from_env as anthropic_from_env
        from halfrate.providers.anthropic_calls import AnthropicCaller

        a_client = (
            anthropic_client
            if anthropic_client is not None
            else anthropic_from_env(
                timeout=settings.provider_timeout_seconds, **_key(stored, "anthropic")
            )
        )
        a_limits = Limits(settings.anthropic_max_batch_lines, settings.anthropic_max_batch_bytes)
        a_provider = AnthropicBatchProvider(a_client, a_limits)
        made.batch["anthropic"] = a_provider
        made.calls["anthropic"] = AnthropicCaller(
            a_client, timeout=settings.realtime_timeout_seconds
        )
        if anthropic_client is None:
            made.owned.append(a_provider)
    return made
