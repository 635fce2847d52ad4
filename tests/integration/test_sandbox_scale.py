"""A full-size batch (50,000 lines, the OpenAI limit) through the real SDK, in-process."""

from __future__ import annotations

import io
import time
from typing import Final

import orjson

from halfrate.sandbox import create_app, openai_client

CHAT: Final = "/v1/chat/completions"
LINES = 50_000


def test_fifty_thousand_line_batch() -> None:
    template = {
        "method": "POST",
        "url": CHAT,
        "body": {
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": "You are a concise support assistant."},
                {"role": "user", "content": ""},
            ],
            "max_tokens": 200,
        },
    }
    out = io.BytesIO()
    for i in range(LINES):
        template["custom_id"] = f"ticket-{i}"
        template["body"]["messages"][1]["content"] = (  # type: ignore[index]
            f"Summarise ticket {i}: the customer cannot log in after resetting the password."
        )
        out.write(orjson.dumps(template) + b"\n")
    data = out.getvalue()

    with openai_client(create_app()) as client:
        file = client.files.create(file=("big.jsonl", io.BytesIO(data)), purpose="batch")
        batch = client.batches.create(input_file_id=file.id, endpoint=CHAT, completion_window="24h")
        started = time.perf_counter()
        done = client.batches.retrieve(batch.id)  # validates and runs all 50,000 lines
        per_line = (time.perf_counter() - started) / LINES
        assert done.status == "completed"
        assert done.request_counts is not None
        assert done.request_counts.completed == LINES
        assert done.output_file_id is not None

        seen: set[str] = set()
        with client.files.with_streaming_response.content(done.output_file_id) as response:
            for line in response.iter_lines():
                seen.add(orjson.loads(line)["custom_id"])
        assert len(seen) == LINES
    # Generous: the target is about 60 µs per line; this only catches gross regressions.
    assert per_line < 500e-6, f"{per_line * 1e6:.0f} µs per line"
