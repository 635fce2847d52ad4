"""Realtime calls to Anthropic's Messages API through the official ``anthropic`` SDK.

The parameters go out as stored, through the SDK client's own request machinery, streamed
(``stream: true`` is the only addition) so halfrate can time the answer; the events are added
back up into the ``Message`` an unstreamed call returns. Anthropic has no flex tier: the policy
never sends a Claude request there.
"""

from __future__ import annotations

from typing import Any

import anthropic
import httpx2
import orjson

from halfrate.models import CallTry, Lane
from halfrate.providers import anthropic_lines, streams
from halfrate.providers.sse import json_events
from halfrate.providers.streams import StreamFailed, Timing
from halfrate.providers.sync import refused, succeeded, unreachable

MESSAGES = "/v1/messages"


class AnthropicCaller:
    name = "anthropic"

    def __init__(self, client: anthropic.Anthropic, *, timeout: float = 600.0) -> None:
        self.client = client
        self._realtime = client.with_options(max_retries=0, timeout=timeout)

    def call(self, endpoint: str, body: dict[str, Any], lane: Lane) -> CallTry:
        timing = Timing()
        try:
            response = self._realtime.post(
                MESSAGES, body={**body, "stream": True}, cast_to=httpx2.Response, stream=True
            )
            try:
                message = streams.message_object(json_events(response.iter_bytes()), timing)
            except httpx2.TransportError as exc:
                raise StreamFailed("connection_error", f"the stream broke off: {exc}") from exc
            finally:
                response.close()
        except anthropic.APIStatusError as exc:
            kind, text = anthropic_lines.error_of(exc.body)
            return refused(lane, exc.status_code, kind, text, exc.response.headers, timing)
        except anthropic.APITimeoutError as exc:
            return unreachable(lane, "timeout", f"no answer in time: {exc}", timing)
        except anthropic.APIConnectionError as exc:
            return unreachable(lane, "connection_error", f"cannot reach the API: {exc}", timing)
        except StreamFailed as exc:
            return unreachable(lane, exc.code, exc.message, timing)
        usage = anthropic_lines.usage_of(message)
        return succeeded(lane, orjson.dumps(message).decode(), usage, timing)

    def close(self) -> None:
        self.client.close()
