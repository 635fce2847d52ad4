"""Realtime and flex calls to OpenAI through the official ``openai`` SDK.

The body goes out as stored, through the SDK client's own request machinery (auth, base URL,
headers, timeouts, server-sent events); halfrate adds only what the transport needs:
``stream`` (with usage in the last chunk) to time the answer, and ``service_tier: "flex"`` on
the flex lane. Chat completions and responses are streamed; other endpoints answer whole.
"""

from __future__ import annotations

from typing import Any, cast

import httpx2
import openai
import orjson

from halfrate.models import CallTry, Lane
from halfrate.providers import openai_lines, streams
from halfrate.providers.sse import json_events
from halfrate.providers.streams import JSON, StreamFailed, Timing
from halfrate.providers.sync import refused, succeeded, unreachable

CHAT = "/v1/chat/completions"
RESPONSES = "/v1/responses"
STREAMED = frozenset({CHAT, RESPONSES})


def _path(endpoint: str) -> str:
    # The SDK's base URL ends in /v1; endpoints are stored with it, as batch lines name them.
    return endpoint.removeprefix("/v1")


class OpenAICaller:
    name = "openai"

    def __init__(
        self, client: openai.OpenAI, *, timeout: float = 600.0, flex_timeout: float = 900.0
    ) -> None:
        self.client = client
        self._realtime = client.with_options(max_retries=0, timeout=timeout)
        # Flex answers more slowly; OpenAI suggests a timeout of about 15 minutes.
        self._flex = client.with_options(max_retries=0, timeout=flex_timeout)

    def call(self, endpoint: str, body: dict[str, Any], lane: Lane) -> CallTry:
        client = self._flex if lane is Lane.FLEX else self._realtime
        sent = {**body, "service_tier": "flex"} if lane is Lane.FLEX else dict(body)
        timing = Timing()
        try:
            if endpoint in STREAMED:
                answer = self._streamed(client, endpoint, sent, timing)
            else:
                answer = client.post(_path(endpoint), body=sent, cast_to=cast(Any, object))
                timing.token()
        except openai.APIStatusError as exc:
            code, message = _error_of(exc)
            return refused(lane, exc.status_code, code, message, exc.response.headers, timing)
        except openai.APITimeoutError as exc:
            return unreachable(lane, "timeout", f"no answer in time: {exc}", timing)
        except openai.APIConnectionError as exc:
            return unreachable(lane, "connection_error", f"cannot reach the API: {exc}", timing)
        except StreamFailed as exc:
            return unreachable(lane, exc.code, exc.message, timing)
        usage = openai_lines.usage_of(answer)
        return succeeded(lane, orjson.dumps(answer).decode(), usage, timing)

    def _streamed(self, client: openai.OpenAI, endpoint: str, body: JSON, timing: Timing) -> JSON:
        body["stream"] = True
        if endpoint == CHAT:
            options = body.get("stream_options")
            kept = options if isinstance(options, dict) else {}
            body["stream_options"] = {**kept, "include_usage": True}
        response = client.post(_path(endpoint), body=body, cast_to=httpx2.Response, stream=True)
        try:
            events = json_events(response.iter_bytes())
            if endpoint == CHAT:
                return streams.chat_completion(events, timing)
            return streams.response_object(events, timing)
        except httpx2.TransportError as exc:
            raise StreamFailed("connection_error", f"the stream broke off: {exc}") from exc
        finally:
            response.close()

    def close(self) -> None:
        self.client.close()


def _error_of(exc: openai.APIStatusError) -> tuple[str, str]:
    body = exc.body
    inner = body.get("error", body) if isinstance(body, dict) else None
    if isinstance(inner, dict):
        code = inner.get("code") or inner.get("type") or f"http_{exc.status_code}"
        return str(code), str(inner.get("message") or "")
    return f"http_{exc.status_code}", f"the provider answered HTTP {exc.status_code}"
