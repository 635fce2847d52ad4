"""Shared test helpers: request files and a halfrate connected to a sandbox."""

from __future__ import annotations

import contextlib
import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai

from halfrate.api import Halfrate, connect
from halfrate.records import BatchRecord, Group
from halfrate.store import Store

CHAT = "/v1/chat/completions"


def chat_line(key: str, content: str, model: str = "gpt-4o-mini", **body: Any) -> dict[str, Any]:
    return {
        "custom_id": key,
        "method": "POST",
        "url": CHAT,
        "body": {"model": model, "messages": [{"role": "user", "content": content}], **body},
    }


def write_jsonl(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def fast_halfrate(database_url: str, **settings: Any) -> Halfrate:
    """A halfrate tuned for tests: quick polls, no retry wait."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "poll_initial_seconds": 0.02,
        "poll_max_seconds": 0.2,
        "worker_idle_seconds": 0.05,
        "retry_backoff_seconds": 0.0,
        **settings,
    }
    return connect(**values)


def sdk_client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(api_key="sandbox-test", base_url=base_url, max_retries=0)


@contextlib.contextmanager
def connected(
    database_url: str, base_url: str, **settings: Any
) -> Iterator[tuple[Halfrate, openai.OpenAI]]:
    """A test halfrate and an SDK client for the sandbox at ``base_url``, both closed after."""
    hr = fast_halfrate(database_url, **settings)
    client = sdk_client(base_url)
    try:
        yield hr, client
    finally:
        client.close()
        hr.close()


def claim(store: Store, max_lines: int = 100, group: Group | None = None) -> BatchRecord:
    """Pack the queued requests of ``group`` (default: gpt-4o-mini chat) into one batch, as
    the worker would."""
    batch = store.queue.claim_batch(
        group or Group("openai", CHAT, "gpt-4o-mini"),
        max_lines=max_lines,
        max_bytes=10**9,
        line_overhead=100,
        now=time.time(),
    )
    assert batch is not None
    return batch


CLAUDE = "claude-haiku-4-5"
MESSAGES_ENDPOINT = "/v1/messages"


def claude_params(content: str, model: str = CLAUDE, **params: Any) -> dict[str, Any]:
    return {
        "model": model,
        "max_tokens": 200,
        "messages": [{"role": "user", "content": content}],
        **params,
    }


def claude_line(key: str, content: str, model: str = CLAUDE, **params: Any) -> dict[str, Any]:
    return {"custom_id": key, "params": claude_params(content, model, **params)}


@contextlib.contextmanager
def lanes(
    database_url: str, server: Any, *, policy: Any = None, **settings: Any
) -> Iterator[Halfrate]:
    """A test halfrate wired to a loopback sandbox for both providers (SDK retries off: halfrate
    counts every try itself), closed after."""
    import anthropic

    openai_sdk = openai.OpenAI(api_key="sandbox-test", base_url=server.base_url, max_retries=0)
    anthropic_sdk = anthropic.Anthropic(
        api_key="sandbox-test", base_url=server.root_url, max_retries=0
    )
    values: dict[str, Any] = {
        "database_url": database_url,
        "poll_initial_seconds": 0.02,
        "poll_max_seconds": 0.2,
        "worker_idle_seconds": 0.05,
        "retry_backoff_seconds": 0.0,
        "realtime_backoff_seconds": 0.01,
        **settings,
    }
    hr = connect(**values, openai_client=openai_sdk, anthropic_client=anthropic_sdk, policy=policy)
    try:
        yield hr
    finally:
        hr.close()
        openai_sdk.close()
        anthropic_sdk.close()


def request_states(conn: Any) -> Counter[str]:
    """How many requests the store holds in each state (``conn``: a SQLAlchemy connection)."""
    import sqlalchemy as sa

    rows = conn.execute(sa.text("SELECT state, count(*) FROM requests GROUP BY state"))
    return Counter({str(state): int(count) for state, count in rows})


def sandbox_batch_ids(server: Any) -> set[str]:
    """The ids of every batch a sandbox (``SandboxServer``) created, of both providers."""
    sandbox = server.app.state.sandbox
    openai_ids = {b["id"] for b in sandbox.list_batches(after=None, limit=100_000)["data"]}
    listed = sandbox.message_batches.list_batches(
        after_id=None, before_id=None, limit=100_000, base_url=server.root_url
    )
    return openai_ids | {b["id"] for b in listed["data"]}


def recorded_batch_ids(conn: Any) -> set[str]:
    """The provider ids of the batches the store recorded as created."""
    import sqlalchemy as sa

    query = "SELECT provider_batch_id FROM batches WHERE provider_batch_id IS NOT NULL"
    return {str(batch_id) for batch_id in conn.execute(sa.text(query)).scalars()}
