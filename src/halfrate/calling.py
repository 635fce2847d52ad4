"""``Halfrate.call()`` as a use case: one request answered now, recorded like every other.

The request is stored first (so the ledger has it even if the process dies mid-call), taken
for the call, called with the realtime lane's retries, and its outcome stored once. A key that
already has an answer returns it without calling again.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from halfrate.catalog import provider_of_model
from halfrate.config import Settings
from halfrate.dispatch.sync_call import run_call
from halfrate.errors import CallFailed, ConfigError, InputError
from halfrate.models import (
    ANTHROPIC_MESSAGES,
    FINAL_REQUEST_STATES,
    Lane,
    Provider,
    RequestSpec,
    Result,
    Usage,
)
from halfrate.providers.sync import SyncCaller
from halfrate.records import ParsedLine, SettleCounts, Sharing
from halfrate.retry import CallPolicy, RetryPolicy
from halfrate.store import Store
from halfrate.tabular.results import output_text

CHAT = "/v1/chat/completions"


@dataclass(frozen=True)
class CallAnswer:
    """The provider's answer to a call, and how it was got."""

    key: str
    lane: str
    model: str
    response: dict[str, Any]
    usage: Usage | None = None
    ttft: float | None = None  # seconds to the first token
    tibt: float | None = None  # mean seconds between tokens
    duration: float | None = None
    route: str = ""  # which rule decided, in words
    # Nothing was called or paid: the key had an answer already, or (lane "cache") an
    # identical request had one.
    cached: bool = False

    @property
    def text(self) -> str:
        """The answer's text (chat, responses and Anthropic messages)."""
        return output_text(self.response)


def spec_of(
    request: RequestSpec | Mapping[str, Any],
    *,
    endpoint: str | None,
    provider: str | None,
    key: str | None,
) -> RequestSpec:
    """A RequestSpec from what the caller passed: a spec, or a request body."""
    if isinstance(request, RequestSpec):
        if endpoint is not None or provider is not None or key is not None:
            raise InputError("give endpoint, provider and key in the RequestSpec, not beside it")
        return request
    if not isinstance(request, Mapping):
        raise InputError("call() takes a RequestSpec or a request body (a dict)")
    body = dict(request)
    model = body.get("model")
    owner = provider_of_model(model) if isinstance(model, str) else None
    chosen = provider or (owner.value if owner is not None else Provider.OPENAI.value)
    default = ANTHROPIC_MESSAGES if chosen == Provider.ANTHROPIC.value else CHAT
    return RequestSpec(
        key=key or f"call-{secrets.token_hex(8)}",
        endpoint=endpoint or default,
        body=body,
        provider=chosen,
    )


def call_now(
    store: Store,
    callers: Mapping[str, SyncCaller],
    settings: Settings,
    sharing: Sharing,
    job: str,
    line: ParsedLine,
) -> CallAnswer:
    """Store ``line`` as a request of ``job``, call it now and store its outcome once.

    ``callers``: a synchronous caller per provider; ``sharing``: which identical requests'
    answers it may take (a person is waiting, so never one still in flight).
    """
    route = line.route
    assert route is not None
    if route.lane is Lane.BATCH:
        # The policy would batch it, but call() is for answers needed now.
        note = ". call() answers now, so it runs in realtime instead"
        route = dataclasses.replace(
            route, lane=Lane.REALTIME, fallback=None, explanation=route.explanation + note
        )
        line = dataclasses.replace(line, route=route)
    caller = callers.get(line.provider.value)
    if caller is None:
        name = line.provider.value.upper()
        raise ConfigError(f"no {line.provider.value} client: set {name}_API_KEY")
    # A person is waiting: an answer in the response cache serves, an identical call in
    # flight elsewhere is not waited for.
    now = time.time()
    outcome = store.submissions.submit(
        job_name=job, source="call", feature=None, team=None, lines=[line], sharing=sharing
    )
    # The key may be waiting for an identical request's answer (stored now, or by an earlier
    # submit): take that answer if it is there; otherwise it is called like any other.
    settled = SettleCounts()
    if outcome.shared or outcome.existing:
        ids = [store.reads.request_id(outcome.job_id, line.key)]
        settled = store.answers.settle(now, ids)
    policy = CallPolicy.from_settings(settings)
    lease = policy.lease_for(settings.flex_timeout_seconds)
    request_id, state, claimed = store.calls.take_by_key(
        outcome.job_id, line.key, lease, time.time()
    )
    if claimed is None:
        if state in FINAL_REQUEST_STATES:
            result = store.reads.result_of(request_id)
            lane = "cache" if settled.answered else ""
            return _answer_of(result, line, route.explanation, lane)
        raise InputError(
            f"request {line.key!r} of job {job!r} is {state} elsewhere; wait for it or use "
            "another key"
        )
    record = run_call(caller, claimed, policy, batch_fallback=False)
    # A call made here is final either way: the person waiting gets an answer or the reason.
    store.calls.finish([record], RetryPolicy(max_attempts=1, backoff_seconds=0.0))
    last = record.last
    if last.response_json is not None and last.verdict.value == "succeeded":
        return CallAnswer(
            key=line.key,
            lane=last.lane.value,
            model=line.model,
            response=orjson.loads(last.response_json),
            usage=last.usage,
            ttft=last.ttft,
            tibt=last.tibt,
            duration=last.duration,
            route=route.explanation,
        )
    return _answer_of(store.reads.result_of(request_id), line, route.explanation)


def _answer_of(result: Result, line: ParsedLine, route: str, lane: str = "") -> CallAnswer:
    if result.status == "succeeded" and result.response is not None:
        return CallAnswer(
            key=line.key,
            lane=lane,
            model=line.model,
            response=result.response,
            route=route,
            cached=True,
        )
    error = result.error or {}
    message = str(error.get("message") or f"the request ended {result.status}")
    code = error.get("code")
    raise CallFailed(
        f"request {line.key!r}: {message}",
        key=line.key,
        status_code=result.status_code,
        code=str(code) if code else None,
    )
